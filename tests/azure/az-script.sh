#!/bin/bash
# The script `azcmk plan --format az` exports, run by the real Azure CLI against the simulator
# (the conformance setup), must reach the end state `azcmk apply` reaches for the same plan.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
conf=$top_srcdir/../shared/conformance
azcmk=$top_builddir/src/azcmk
sim=$top_builddir/src/azcmk-sim
cannot() {
	echo "az-script: not run: $1"
	if [ "${CI:-}" = true ]; then exit 99; fi
	exit 77
}
[ -f "$conf/scenario-az.json" ] || cannot "no $conf (the shared folder is not beside this checkout)"
command -v az >/dev/null 2>&1 || cannot "the Azure CLI is not installed (apt-get install azure-cli)"
command -v python3 >/dev/null 2>&1 || cannot "python3 is not installed"

T=11111111-1111-4111-8111-111111111111
APP=33333333-3333-4333-8333-333333333333
SECRET=s3cret-operator
KEY=https://kv-health.vault.azure.net/keys/cmk-rsa
work=$(mktemp -d)
simpid=
trap 'stop_sim; rm -rf "$work"' EXIT
pass=0 fail=0

# Starts the simulator on the conformance scenario; sets the variables az and azcmk need.
start_sim() {
	rm -f "$work/ports.json"
	"$sim" --scenario "$conf/scenario-az.json" --port-file "$work/ports.json" --ca-out "$work/ca.pem" \
		>"$work/sim.out" 2>&1 &
	simpid=$!
	for _ in $(seq 100); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
	[ -s "$work/ports.json" ] || { echo "the simulator did not start:"; cat "$work/sim.out"; exit 1; }
	proxy=http://127.0.0.1:$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['proxy'])" "$work/ports.json")
	export HTTPS_PROXY=$proxy NO_PROXY= REQUESTS_CA_BUNDLE=$work/ca.pem AZURE_CONFIG_DIR=$work/az
	export AZURE_TENANT_ID=$T AZURE_CLIENT_ID=$APP AZURE_CLIENT_SECRET=$SECRET
	export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9 XDG_STATE_HOME=$work/state LANG=C
}

# Stops the simulator.
stop_sim() {
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
	simpid=
}

# Saves the simulator's state (its admin endpoint) to a file.
dump_state() {
	curl -sf --proxy "$HTTPS_PROXY" --cacert "$work/ca.pem" https://sim.local/state >"$1"
}

# Runs the exported az script for RESOURCE and ARGS on a fresh simulator; saves the end state to $work/script.json.
by_script() {
	local res=$1; shift
	start_sim
	"$azcmk" --ca-file "$work/ca.pem" plan "$res" "$@" --format az --file "$work/plan.sh" >"$work/out" 2>&1 ||
		{ echo "plan --format az failed:"; cat "$work/out"; stop_sim; return 1; }
	export PYTHONPATH=$conf/pyshim AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_ONLY_SHOW_ERRORS=true \
		AZURE_CORE_NO_COLOR=true AZURE_EXTENSION_USE_DYNAMIC_INSTALL=no AZCMK_PROPAGATION_WAIT=0
	az login --service-principal -u $APP -p $SECRET --tenant $T >/dev/null 2>"$work/out" ||
		{ echo "az login failed:"; cat "$work/out"; stop_sim; return 1; }
	sh "$work/plan.sh" >"$work/out" 2>&1 || { echo "the script failed:"; cat "$work/out"; stop_sim; return 1; }
	"$azcmk" --ca-file "$work/ca.pem" check "$res" >"$work/out" 2>&1 ||
		{ echo "check after the script found a blocker or failed:"; cat "$work/out"; stop_sim; return 1; }
	dump_state "$work/script.json"
	stop_sim
}

# Plans and applies with azcmk for RESOURCE and ARGS on a fresh simulator; saves the end state to $work/apply.json.
by_apply() {
	local res=$1; shift
	start_sim
	"$azcmk" --ca-file "$work/ca.pem" plan "$res" "$@" --file "$work/plan.json" >"$work/out" 2>&1 &&
		"$azcmk" --ca-file "$work/ca.pem" --yes --propagation-wait 0 apply "$work/plan.json" >"$work/out" 2>&1 ||
		{ echo "plan and apply failed:"; cat "$work/out"; stop_sim; return 1; }
	dump_state "$work/apply.json"
	stop_sim
}

# Compares what matters of the two end states: the resource's key setting and identity, and the grants its identity got.
same_end_state() {
	python3 - "$1" "$work/script.json" "$work/apply.json" <<'EOF'
import json, re, sys

name = sys.argv[1]

def norm(v):
    """Replaces key versions and generated ids, which differ between two runs by design."""
    return json.loads(re.sub(r'[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>',
                             json.dumps(v, sort_keys=True)))

def view(path):
    d = json.load(open(path))
    r = next(x for x in d['resources'] if x['id'].lower().endswith('/' + name.lower()))
    ident = r.get('identity') or {}
    principals = {ident.get('principalId')} | {u.get('principalId') for u in (ident.get('userAssignedIdentities') or {}).values()}
    uais = [x for x in d['resources'] if x['type'] == 'Microsoft.ManagedIdentity/userAssignedIdentities']
    principals |= {u['properties']['principalId'] for u in uais if u['id'].lower() in
                   {k.lower() for k in (ident.get('userAssignedIdentities') or {})}}
    grants = sorted((a['scope'].lower(), a['roleDefinitionId'].rsplit('/', 1)[-1]) for a in d.get('roleAssignments', [])
                    if a.get('principalId') in principals)
    keys = {k: sorted(v2['key_size'] for v2 in vs) for k, vs in d['keys'].get('kv-health', {}).items()}
    return norm({'encryption': r['properties'].get('encryption') or r['properties'].get('keyVaultProperties'),
                 'identity': ident.get('type'), 'grants': grants, 'keys': keys})

a, b = view(sys.argv[2]), view(sys.argv[3])
if a != b:
    print('script: ' + json.dumps(a, sort_keys=True))
    print('apply:  ' + json.dumps(b, sort_keys=True))
    sys.exit(1)
if not a['encryption'] or not a['grants']:
    print('no key setting or no grant in the end state: ' + json.dumps(a))
    sys.exit(1)
EOF
}

# One case: the script and apply, then the comparison.
case_() {
	local label=$1; shift
	if by_script "$@" && by_apply "$@" && same_end_state "$1"; then
		echo "ok   $label"; pass=$((pass + 1))
	else
		echo "FAIL $label"; fail=$((fail + 1))
	fi
}

case_ "openai: grant and save" oai-prod --key $KEY
case_ "dicom: enable identity, grant, versioned save (PUT)" dicom1 --key $KEY
case_ "health bot: user-assigned identity" bot1 --key $KEY --identity /subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/rg-health/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai-cmk
case_ "openai: user-assigned identity, system-assigned turned off after the save" oai-prod --key $KEY --identity /subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/rg-health/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai-cmk --system-identity off
case_ "foundry: new key, identity, confirmed" foundry-prod --vault kv-health --create-key cmk-new --confirm-irreversible
# A fleet plan's script (fix --all --format az): one function per resource, run by az; the re-audit then finds
# every planned resource on its customer-managed key.
fleet_script() {
	start_sim
	"$azcmk" --ca-file "$work/ca.pem" audit >/dev/null 2>&1
	"$azcmk" --ca-file "$work/ca.pem" fix --all --confirm-irreversible --format az --file "$work/fleet.sh" \
		-o none >"$work/out" 2>&1 || { echo "fix --all --format az failed:"; cat "$work/out"; stop_sim; return 1; }
	local fleet
	fleet=$(sed -n 's/^Fleet plan written to \(.*\); apply it with.*/\1/p' "$work/out")
	# az's own cache must not hold a Key Vault token from an earlier case's simulator (another signing key).
	export AZURE_CONFIG_DIR=$work/az-fleet
	export PYTHONPATH=$conf/pyshim AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_ONLY_SHOW_ERRORS=true \
		AZURE_CORE_NO_COLOR=true AZURE_EXTENSION_USE_DYNAMIC_INSTALL=no AZCMK_PROPAGATION_WAIT=0
	az login --service-principal -u $APP -p $SECRET --tenant $T >/dev/null 2>"$work/out" ||
		{ echo "az login failed:"; cat "$work/out"; stop_sim; return 1; }
	sh "$work/fleet.sh" >"$work/out" 2>&1 || { echo "the fleet script failed:"; cat "$work/out"; stop_sim; return 1; }
	"$azcmk" --ca-file "$work/ca.pem" audit -o json >"$work/audit.json" 2>/dev/null
	python3 - "$fleet" "$work/audit.json" <<'EOF2'
import json, sys
fleet, audit = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
planned = {p["resource"].lower() for p in fleet["plans"]}
lacking = {f["resourceId"].lower() for f in audit["findings"] if f["rule"] == "resource.cmk"}
if not planned:
    sys.exit("the fleet plan planned nothing")
if planned & lacking:
    sys.exit("still on Microsoft-managed keys after the script: %s" % sorted(planned & lacking))
EOF2
	local rc=$?
	stop_sim
	return $rc
}
if fleet_script; then
	echo "ok   fleet: fix --all --format az, run by az, leaves every planned resource on its key"; pass=$((pass + 1))
else
	echo "FAIL fleet: fix --all --format az, run by az"; fail=$((fail + 1))
fi
# az resource list --subscription S sends an empty $filter, which ARM accepts (the simulator refused it with 400).
az_resource_list() {
	start_sim
	export PYTHONPATH=$conf/pyshim AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_ONLY_SHOW_ERRORS=true \
		AZURE_CORE_NO_COLOR=true AZURE_EXTENSION_USE_DYNAMIC_INSTALL=no
	az login --service-principal -u $APP -p $SECRET --tenant $T >/dev/null 2>"$work/out" &&
		az resource list --subscription 22222222-2222-4222-8222-222222222222 -o json >"$work/list.json" 2>"$work/out" &&
		python3 -c 'import json,sys; sys.exit(0 if len(json.load(open(sys.argv[1]))) > 0 else 1)' "$work/list.json"
	local rc=$?
	[ $rc -eq 0 ] || cat "$work/out"
	stop_sim
	return $rc
}
if az_resource_list; then
	echo "ok   az resource list --subscription (an empty \$filter)"; pass=$((pass + 1))
else
	echo "FAIL az resource list --subscription (an empty \$filter)"; fail=$((fail + 1))
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
