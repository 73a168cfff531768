#!/bin/sh
# Tests the programs as an operator runs them: help, version, usage errors, scenario
# validation, the port and CA files, the request log's redaction, and a clean stop.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
azcmk=$top_builddir/src/azcmk
sim=$top_builddir/src/azcmk-sim
scen=$top_srcdir/tests/scenarios
work=$(mktemp -d)
pass=0 fail=0
simpid=
# Never let a credential probe reach the real IMDS address: a closed loopback port instead.
export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9
unset AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_CLIENT_CERTIFICATE_PATH AZURE_FEDERATED_TOKEN_FILE \
	IDENTITY_ENDPOINT IDENTITY_HEADER MSI_ENDPOINT MSI_SECRET IMDS_ENDPOINT AZURE_CLIENT_CERTIFICATE_PASSWORD \
	AZURE_CLIENT_SEND_CERTIFICATE_CHAIN AZURE_TOKEN_CREDENTIALS REQUESTS_CA_BUNDLE SSL_CERT_FILE CURL_CA_BUNDLE \
	AZURE_CLOUD_NAME
# The Azure CLI's configuration is the test's own, never the developer's ~/.azure.
export AZURE_CONFIG_DIR="$work/no-az-config"
trap '[ -n "$simpid" ] && kill "$simpid" 2>/dev/null; rm -rf "$work"' EXIT

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# expect NAME WANT-EXIT GREP-PATTERN -- command...: checks the exit status and that the output matches.
expect() {
	name=$1 want=$2 pattern=$3
	shift 4
	"$@" >"$work/out" 2>&1
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "$name: exit $rc, wanted $want: $(head -c 300 "$work/out")"
	elif [ -n "$pattern" ] && ! grep -q -- "$pattern" "$work/out"; then
		bad "$name: output lacks '$pattern': $(head -c 300 "$work/out")"
	else
		ok "$name"
	fi
}

expect azcmk-version 0 "azcmk (azcmk) " -- "$azcmk" --version
expect azcmk-help 0 "Usage: azcmk" -- "$azcmk" --help
expect azcmk-bad-option 2 "Try 'azcmk --help'" -- "$azcmk" --bogus
expect azcmk-bad-command 2 "unknown command 'frobnicate'" -- "$azcmk" frobnicate
# Run uninstalled from the build tree, azcmk speaks the translations make laid out in it (po/locale),
# whatever the working directory: no make install and no AZCMK_LOCALEDIR needed.
if locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	expect azcmk-french-uninstalled 0 "Usage : azcmk" -- env -u AZCMK_LOCALEDIR LC_ALL=fr_FR.UTF-8 "$azcmk" --help
	expect azcmk-sim-french-uninstalled 0 "Utilisation : azcmk-sim" -- \
		sh -c 'cd / && env -u AZCMK_LOCALEDIR LC_ALL=fr_FR.UTF-8 "$0" --help' "$(cd "$(dirname "$sim")" && pwd)/azcmk-sim"
else
	echo "skip French from the build tree: no fr_FR.UTF-8 locale (locale-gen)"
fi
# Each command's --help tells that command: its synopsis, its options and not the others', examples;
# within 80 columns.
for c in login logout account check plan apply rotate refresh audit fix history keys guard; do
	expect "help-$c" 0 "Usage: azcmk $c \[OPTION\]" -- "$azcmk" $c --help
	wide=$(awk 'length($0) > 79' "$work/out" | head -1)
	[ -z "$wide" ] && ok "help-$c fits 80 columns" || bad "help-$c has a line over 79 columns: $wide"
	grep -q "^Examples:" "$work/out" && ok "help-$c has examples" || bad "help-$c has no examples"
done
expect help-audit-own 0 "  --fail-on LEVEL" -- "$azcmk" audit --help
grep -q -- "--resume\|--create-key" "$work/out" && bad "audit --help lists options of other commands" ||
	ok "audit --help lists only its own options and the global ones"
expect help-rotate-version 0 "  --version V " -- "$azcmk" rotate -h
if locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	expect help-audit-french 0 "Options globales" -- env LC_ALL=fr_FR.UTF-8 "$azcmk" audit --help
fi
# -o is a format for every command, never a file: plan saves with --file, and says so.
expect plan-o-file-refused 2 "use --file x.plan" -- "$azcmk" plan r -o x.plan
expect file-not-for-audit 2 "option --file does not apply to azcmk audit" -- "$azcmk" audit --file x
expect help-global-points-to-commands 0 "azcmk COMMAND --help" -- "$azcmk" --help
# Each command takes only the options that mean something to it: the rest are refused, never ignored.
expect azcmk-option-not-for-audit 2 "option --create-key does not apply to azcmk audit" -- \
	"$azcmk" audit --create-key foo --resume
expect azcmk-option-not-for-wizard 2 "option --deep does not apply to the wizard" -- "$azcmk" --deep
expect azcmk-option-not-for-history 2 "option --yes does not apply to azcmk history" -- "$azcmk" history --yes
expect azcmk-option-before-command 2 "option --resume does not apply to azcmk plan" -- "$azcmk" --resume plan r
expect azcmk-unknown-before-options 2 "unknown command 'frobnicate'" -- "$azcmk" frobnicate --deep
# After rotate, --version V is a key version (no argv rewriting); without its value it is a mistake.
expect azcmk-rotate-version-needs-value 2 "requires an argument" -- "$azcmk" rotate r --version
expect azcmk-rotate-short-V 2 "option --version does not apply to azcmk rotate" -- "$azcmk" rotate r -V
expect azcmk-version-after-command 0 "azcmk (azcmk) " -- "$azcmk" check --version
# keys takes one VAULT, and --versions KEY belongs to it alone.
expect azcmk-keys-usage 2 "keys takes one VAULT" -- "$azcmk" keys
expect azcmk-option-not-for-keys 2 "option --yes does not apply to azcmk keys" -- "$azcmk" keys kv1 --yes
expect azcmk-keys-versions-needs-value 2 "requires an argument" -- "$azcmk" keys kv1 --versions
expect azcmk-versions-not-for-audit 2 "option --versions does not apply to azcmk audit" -- "$azcmk" audit --versions k1
# azcmk --demo: the built-in tenant, started in-process, answers the commands with nothing set up.
export XDG_STATE_HOME=$work/state
expect demo-audit 1 "43 resources audited in 4 subscriptions" -- env -u HTTPS_PROXY "$azcmk" --demo audit
expect demo-check 1 "rule\|BLOCKER" -- env -u HTTPS_PROXY "$azcmk" --demo check hb-ch-scheduling
expect demo-fix-dry-run 0 "Nothing was changed (this is a dry run)" -- "$azcmk" --demo fix hb-ch-intake-prod --dry-run
# fix finds a Managed HSM's key when told to look there, and grants the HSM's local role on that key alone.
expect demo-fix-hsm 0 "Managed HSM Crypto Service Encryption User on key cmk-hsm-dicom only" -- \
	"$azcmk" --demo fix chprodimaging/dermatology --vault mhsm-ch-prod --dry-run
# azcmk keys: a store's keys, or a key's versions newest first, by the store's name (a vault or a Managed HSM).
expect demo-keys 0 "^cmk-dicom  *RSA 3072  *yes  *never  *54e4db7325318449f6c4ea01639b19b8$" -- \
	"$azcmk" --demo keys kv-ch-prod-keys
expect demo-keys-hsm 0 "Managed HSM mhsm-ch-prod (https://mhsm-ch-prod.managedhsm.azure.net/) holds 1 key" -- \
	"$azcmk" --demo keys MHSM-CH-PROD
expect demo-keys-versions 0 "^54e4db7325318449f6c4ea01639b19b8  *yes  *2026-09-01T09:00:00Z  *never  *yes$" -- \
	"$azcmk" --demo keys kv-ch-prod-keys --versions cmk-dicom
expect demo-keys-no-vault 2 "no key vault or Managed HSM named 'kv-nope'.*https://kv-nope.vault.azure.net/" -- \
	"$azcmk" --demo keys kv-nope
expect demo-keys-no-key 2 "versions of key nope in kv-ch-prod-keys: .*KeyNotFound.*'azcmk keys kv-ch-prod-keys'" -- \
	"$azcmk" --demo keys kv-ch-prod-keys --versions nope
expect demo-keys-forbidden 2 "cannot list the keys in kv-ch-dev-shared: .*Key Vault Reader or Key Vault Crypto User" -- \
	"$azcmk" --demo keys kv-ch-dev-shared
"$azcmk" --demo keys kv-ch-prod-keys -o json >"$work/keys.json" 2>&1
if python3 -c 'import json,sys
d = json.load(open(sys.argv[1])); names = [k["name"] for k in d["keys"]]
ok = d["store"] == {"name": "kv-ch-prod-keys", "uri": "https://kv-ch-prod-keys.vault.azure.net/", "kind": "vault"}
ok = ok and len(names) == 6 and names == sorted(names, key=str.lower) and "ec-signing" in names
k = [k for k in d["keys"] if k["name"] == "cmk-dicom"][0]
ok = ok and k["kty"] == "RSA" and k["keySize"] == 3072 and k["enabled"] is True and k["expires"] is None
sys.exit(0 if ok and k["version"] == "54e4db7325318449f6c4ea01639b19b8" else 1)' "$work/keys.json"; then
	ok demo-keys-json
else
	bad "demo-keys-json: $(head -c 300 "$work/keys.json")"
fi
"$azcmk" --demo keys mhsm-ch-prod --versions cmk-hsm-dicom -o json >"$work/versions.json" 2>&1
if python3 -c 'import json,sys
d = json.load(open(sys.argv[1])); v = d["versions"]
ok = d["store"]["kind"] == "managedHsm" and d["key"] == "cmk-hsm-dicom" and len(v) == 2
ok = ok and [x["current"] for x in v] == [True, False] and v[0]["created"] > v[1]["created"]
sys.exit(0 if ok and v[0]["kid"].endswith("/keys/cmk-hsm-dicom/" + v[0]["version"]) else 1)' "$work/versions.json"; then
	ok demo-keys-versions-json
else
	bad "demo-keys-versions-json: $(head -c 300 "$work/versions.json")"
fi
"$azcmk" --demo audit -o json >"$work/demo.json" 2>/dev/null
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["summary"]["resources"] == 43 else 1)' \
	"$work/demo.json"; then ok demo-audit-json; else bad "demo-audit-json: $(head -c 300 "$work/demo.json")"; fi
# --demo runs azcmk-sim as its own process: a missing one is named with what to do; the certificate file it
# leaves in TMPDIR goes with it; and the simulator ends with azcmk, even when azcmk is killed outright.
expect demo-no-sim 2 "the demo's simulator /nonexistent/azcmk-sim did not start: .*install azcmk-sim" -- \
	env AZCMK_SIM=/nonexistent/azcmk-sim "$azcmk" --demo account list
mkdir -p "$work/demotmp"
TMPDIR=$work/demotmp "$azcmk" --demo account list >/dev/null 2>&1
if [ -z "$(ls -A "$work/demotmp")" ]; then ok demo-leaves-nothing; else bad "demo-leaves-nothing: $(ls "$work/demotmp")"; fi
printf '#!/bin/sh\necho $$ >"%s/simpid"\nsleep 2\nexec "%s" "$@"\n' "$work" "$sim" >"$work/slow-sim"
chmod +x "$work/slow-sim"
AZCMK_SIM=$work/slow-sim "$azcmk" --demo account list >/dev/null 2>&1 &
demo_pid=$!
i=0
while [ ! -s "$work/simpid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -KILL "$demo_pid" 2>/dev/null
wait "$demo_pid" 2>/dev/null
child=$(cat "$work/simpid" 2>/dev/null)
i=0
while [ -n "$child" ] && kill -0 "$child" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ -n "$child" ] && ! kill -0 "$child" 2>/dev/null; then
	ok demo-sim-ends-with-azcmk
else
	bad "demo-sim-ends-with-azcmk: the simulator ($child) outlived azcmk"
	[ -n "$child" ] && kill "$child" 2>/dev/null
fi
# -o tsv as az writes it (knack's _TsvOutput): a line per item of the command's list, values in the order of
# their sorted keys, null as None, a boolean inside a line as True/False, no header; AZURE_CORE_OUTPUT=tsv too.
tab=$(printf '\t')
expect demo-tsv-accounts 0 "^Contoso Health Prod${tab}Enabled${tab}22222222-2222-4222-8222-222222222222${tab}11111111-" -- \
	"$azcmk" --demo -o tsv account list
expect demo-tsv-env 0 "^Contoso Health Dev${tab}Enabled${tab}" -- env AZURE_CORE_OUTPUT=tsv "$azcmk" --demo account list
expect demo-tsv-versions 0 "^2026-09-01T09:00:00Z${tab}True${tab}True${tab}None${tab}https://kv-ch-prod-keys.vault.azure.net/keys/cmk-dicom/54e4db7325318449f6c4ea01639b19b8${tab}54e4db7325318449f6c4ea01639b19b8$" -- \
	"$azcmk" --demo -o tsv keys kv-ch-prod-keys --versions cmk-dicom
expect demo-tsv-plan-refused 2 "for plan: use table, json or none" -- "$azcmk" --demo -o tsv plan fdy-ch-prod
# The audit's TSV has one line per finding of its JSON, each with as many fields as a finding has members.
"$azcmk" --demo audit -o tsv >"$work/demo.tsv" 2>/dev/null
if python3 -c 'import json,sys
d = json.load(open(sys.argv[1])); lines = open(sys.argv[2]).read().split("\n")[:-1]
f = d["findings"]; cols = sorted(f[0].keys())
ok = len(lines) == len(f) and all(len(l.split("\t")) == len(cols) for l in lines)
first = dict(zip(cols, lines[0].split("\t")))
sys.exit(0 if ok and first["id"] == f[0]["id"] and first["rule"] == f[0]["rule"] else 1)' "$work/demo.json" "$work/demo.tsv"; then
	ok demo-audit-tsv
else
	bad "demo-audit-tsv: $(head -c 300 "$work/demo.tsv")"
fi
# --verbose says each request and its status, never a header or a token; --only-show-errors keeps notes and
# progress off standard error, and errors on it; the two together are refused.
"$azcmk" --demo --verbose account list >/dev/null 2>"$work/verbose"
if grep -q "^azcmk: > GET https://management.azure.com/subscriptions?api-version=" "$work/verbose" &&
	grep -q "^azcmk: < 200 (" "$work/verbose" && ! grep -qi "authorization\|client_secret\|demo-secret" "$work/verbose"; then
	ok demo-verbose
else
	bad "demo-verbose: $(head -c 300 "$work/verbose")"
fi
expect demo-plan-notes 0 "Findings this plan does not change" -- "$azcmk" --demo plan fdy-ch-prod
"$azcmk" --demo --only-show-errors plan fdy-ch-prod >"$work/out" 2>"$work/err"
if [ $? -eq 0 ] && [ ! -s "$work/err" ] && grep -q . "$work/out"; then
	ok demo-only-show-errors
else
	bad "demo-only-show-errors: $(head -c 300 "$work/err")"
fi
expect demo-only-show-errors-error 2 "no key vault or Managed HSM named 'kv-nope'" -- \
	"$azcmk" --demo --only-show-errors keys kv-nope
expect demo-verbose-and-quiet 2 "choose one" -- "$azcmk" --demo --verbose --only-show-errors account list
# Machine-readable output is English whatever the locale; the table speaks the operator's language.
if locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	expect demo-audit-json-english 1 '"message": "hb-ch-legacy-faq cannot use a customer-managed key"' -- \
		env -u HTTPS_PROXY LC_ALL=fr_FR.UTF-8 LANGUAGE=fr "$azcmk" --demo audit -o json
	expect demo-audit-csv-english 1 "cannot use a customer-managed key" -- \
		env -u HTTPS_PROXY LC_ALL=fr_FR.UTF-8 "$azcmk" --demo audit -o csv
	expect demo-audit-table-french 1 "ne peut pas utiliser de clé gérée par le client" -- \
		env -u HTTPS_PROXY LC_ALL=fr_FR.UTF-8 "$azcmk" --demo audit
fi
# az's own settings: AZURE_CORE_OUTPUT names the default format (-o wins; one azcmk does not write
# leaves the table), AZURE_CORE_NO_COLOR turns colour off as NO_COLOR does.
expect az-core-output-json 1 '"schema": "azcmk-audit/1"' -- env -u HTTPS_PROXY AZURE_CORE_OUTPUT=jsonc "$azcmk" --demo audit
expect az-core-output-overridden 1 "resources audited" -- \
	env -u HTTPS_PROXY AZURE_CORE_OUTPUT=json "$azcmk" --demo audit -o table
expect az-core-output-yaml-ignored 1 "resources audited" -- env -u HTTPS_PROXY AZURE_CORE_OUTPUT=yaml "$azcmk" --demo audit
# -o none (and az's AZURE_CORE_OUTPUT=none): nothing on standard output, the exit status still tells.
for how in "-o none" "AZURE_CORE_OUTPUT=none"; do
	case $how in -o*) set -- "$azcmk" --demo audit -o none ;; *) set -- env "$how" "$azcmk" --demo audit ;; esac
	env -u HTTPS_PROXY "$@" >"$work/none.out" 2>/dev/null
	rc=$?
	[ "$rc" -eq 1 ] && [ ! -s "$work/none.out" ] && ok "audit $how: silent, exit 1" ||
		bad "audit $how: exit $rc, output: $(head -c 200 "$work/none.out")"
done
set --
if command -v script >/dev/null 2>&1; then
	esc=$(printf '\033[')
	script -qec "env -u HTTPS_PROXY '$azcmk' --demo check hb-ch-scheduling" /dev/null >"$work/tty" 2>&1
	grep -qF "$esc" "$work/tty" && ok "colour on a terminal" || bad "no colour on a terminal: $(head -c 200 "$work/tty")"
	for v in AZURE_CORE_NO_COLOR=true AZURE_CORE_NO_COLOR=1 NO_COLOR=1; do
		script -qec "env -u HTTPS_PROXY $v '$azcmk' --demo check hb-ch-scheduling" /dev/null >"$work/tty" 2>&1
		grep -qF "$esc" "$work/tty" && bad "$v: colour still used" || ok "$v turns colour off"
	done
	script -qec "env -u HTTPS_PROXY NO_COLOR=1 '$azcmk' --demo --color=auto check hb-ch-scheduling" /dev/null \
		>"$work/tty" 2>&1
	grep -qF "$esc" "$work/tty" && ok "--color=auto beats NO_COLOR on a terminal" || bad "--color=auto: no colour"
	script -qec "env -u HTTPS_PROXY '$azcmk' --demo --color=never check hb-ch-scheduling" /dev/null >"$work/tty" 2>&1
	grep -qF "$esc" "$work/tty" && bad "--color=never: colour still used" || ok "--color=never turns colour off"
fi
env -u HTTPS_PROXY NO_COLOR=1 "$azcmk" --demo --color=always check hb-ch-scheduling >"$work/pipe" 2>&1
grep -qF "$(printf '\033[')" "$work/pipe" && ok "--color=always colours a pipe, beating NO_COLOR" ||
	bad "--color=always: no colour in a pipe"
expect azcmk-bad-color 2 "invalid --color 'sometimes'" -- "$azcmk" --color=sometimes login
unset XDG_STATE_HOME
expect azcmk-bad-auth 2 "invalid --auth 'magic'" -- "$azcmk" --auth magic login
expect azcmk-bad-output 2 "invalid --output 'xml'" -- "$azcmk" -o xml login
expect azcmk-bad-cloud 2 "unknown cloud 'Mars'" -- "$azcmk" --cloud Mars login
# --parallel takes 1 to 64, and a refusal says what to give and the bounds that hold whatever the value.
for v in 0 65 -3 eight; do
	expect "azcmk-bad-parallel-$v" 2 \
		"invalid --parallel '$v': use a number from 1 to 64 (at most 8 run at once on one vault, 16 in one subscription)" \
		-- "$azcmk" apply --parallel "$v" fleet.json
done
expect azcmk-login-args 2 "login takes no arguments" -- "$azcmk" login now
expect azcmk-account-usage 2 "account list" -- "$azcmk" account show
expect sim-version 0 "azcmk-sim (azcmk) " -- "$sim" --version
expect sim-help 0 "Usage: azcmk-sim --scenario FILE" -- "$sim" --help
expect sim-no-scenario 2 "no scenario given" -- "$sim"
expect sim-bad-latency 2 "invalid value 'soon' for --latency-ms" -- "$sim" -s x --latency-ms soon
expect sim-missing-file 1 "cannot open" -- "$sim" --check -s "$work/none.json"
for f in "$scen"/*.json; do
	case $f in *-expected.json) continue ;; esac
	expect "check-$(basename "$f")" 0 "" -- "$sim" --check -s "$f"
done
printf '{"tenantId":"11111111-1111-4111-8111-111111111111","operator":{"clientId":"11111111-1111-4111-8111-111111111111","objectId":"11111111-1111-4111-8111-111111111111"},"subscriptions":[{"subscriptionId":"22222222-2222-4222-8222-222222222222","displayName":"s"}],"resources":[{"id":"/subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups/g","type":"Microsoft.KeyVault/vaults","name":"g"}]}' >"$work/bad.json"
expect sim-bad-scenario 1 '\$.resources\[0\].type' -- "$sim" --check -s "$work/bad.json"
expect sim-bad-scenario-start 1 '\$.resources\[0\].type' -- "$sim" -s "$work/bad.json"
printf '{"tenantId": ' >"$work/trunc.json"
expect sim-invalid-json 1 "not valid JSON" -- "$sim" --check -s "$work/trunc.json"

# Starts the simulator in the background and waits for its port file.
start_sim() {
	rm -f "$work/ports.json"
	"$sim" -s "$scen/minimal.json" --port-file "$work/ports.json" --ca-out "$work/ca.pem" --log "$work/log.jsonl" \
		>"$work/sim.out" 2>&1 &
	simpid=$!
	i=0
	while [ ! -s "$work/ports.json" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
}

start_sim
if [ -s "$work/ports.json" ] && grep -q '"https": [0-9]*, "proxy": [0-9]*, "identity": [0-9]*' "$work/ports.json" &&
	grep -q "BEGIN CERTIFICATE" "$work/ca.pem" && cmp -s "$work/ports.json" "$work/sim.out"; then
	ok "port-file-and-ca"
else
	bad "port-file-and-ca: $(cat "$work/sim.out")"
fi
proxy=$(sed 's/.*"proxy": \([0-9]*\).*/\1/' "$work/ports.json")
if command -v curl >/dev/null; then
	expect health-through-proxy 0 '"status":"ok"' -- curl -sS --proxy "http://127.0.0.1:$proxy" --cacert "$work/ca.pem" https://sim.local/health
	expect token-through-proxy 0 '"access_token"' -- curl -sS --proxy "http://127.0.0.1:$proxy" --cacert "$work/ca.pem" \
		-d grant_type=client_credentials -d client_id=0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a -d client_secret=demo-secret \
		-d scope=https://management.azure.com/.default \
		https://login.microsoftonline.com/11111111-1111-4111-8111-111111111111/oauth2/v2.0/token
	expect untrusted-ca-refused 60 "" -- curl -sS --proxy "http://127.0.0.1:$proxy" https://sim.local/health
else
	echo "skip curl checks: curl is not installed"
fi
# The session layer end to end through the programs, as an operator uses them.
(
	export HTTPS_PROXY="http://127.0.0.1:$proxy" AZURE_TENANT_ID=11111111-1111-4111-8111-111111111111
	export AZURE_CLIENT_ID=0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a AZURE_CLIENT_SECRET=demo-secret
	export XDG_STATE_HOME=$work/state-sim
	expect login-env-secret 0 "environment (client secret)" -- "$azcmk" --ca-file "$work/ca.pem" login
	expect login-json 0 '"objectId": "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"' -- "$azcmk" --ca-file "$work/ca.pem" -o json login
	expect account-list 0 "Contoso Health Test  66666666-6666-4666-8666-666666666666" -- \
		"$azcmk" --ca-file "$work/ca.pem" account list
	expect account-list-json 0 '"subscriptionId": "66666666-6666-4666-8666-666666666666"' -- \
		"$azcmk" --ca-file "$work/ca.pem" -o json account list
	# A first run signs in (a state directory of its own: no token cache yet).
	XDG_STATE_HOME=$work/state-debug "$azcmk" --ca-file "$work/ca.pem" --debug account list >"$work/out" 2>"$work/trace"
	if grep -q "demo-secret" "$work/trace" || grep -qE "eyJ[A-Za-z0-9_-]{20,}" "$work/trace"; then
		bad "debug-trace-redacted: the trace shows a secret or a token"
	elif grep -q "client_secret=\[redacted\]" "$work/trace" && grep -q "Authorization: Bearer \[redacted\]" "$work/trace"; then
		ok "debug-trace-redacted"
	else
		bad "debug-trace-redacted: no trace: $(head -c 300 "$work/trace")"
	fi
	# The token cache: the next process takes the token from it, sends no
	# sign-in request and traces no token; logout removes it, then says so.
	tokens() { grep -c '/oauth2/v2.0/token' "$work/log.jsonl"; }
	before=$(tokens)
	XDG_STATE_HOME=$work/state-debug "$azcmk" --ca-file "$work/ca.pem" --debug account list >"$work/out" 2>"$work/trace"
	if [ "$(tokens)" != "$before" ]; then
		bad "token-cache-reused: the second run signed in again"
	elif ! grep -q "comes from the token cache" "$work/trace" || grep -qE "eyJ[A-Za-z0-9_-]{20,}" "$work/trace"; then
		bad "token-cache-reused: $(head -c 300 "$work/trace")"
	else
		ok "token-cache-reused"
	fi
	[ "$(stat -c %a "$work/state-debug/azcmk/tokens.json")" = 600 ] && ok "token-cache-0600" ||
		bad "token-cache-0600: $(ls -l "$work/state-debug/azcmk/tokens.json")"
	expect logout-removes 0 "Removed the token cache '.*/tokens.json' (1 token)" -- env XDG_STATE_HOME="$work/state-debug" \
		"$azcmk" logout
	expect logout-none 0 "No token cache at '.*/tokens.json': nothing to remove" -- env XDG_STATE_HOME="$work/state-debug" \
		"$azcmk" logout
	expect logout-json 0 '"removed": false' -- env XDG_STATE_HOME="$work/state-debug" "$azcmk" -o json logout
	expect logout-tsv 0 "^False	.*/tokens.json	0$" -- env XDG_STATE_HOME="$work/state-debug" "$azcmk" logout -o tsv
	expect logout-no-csv 2 "invalid --output 'csv': use table, json, tsv or none" -- "$azcmk" logout -o csv
	XDG_STATE_HOME=$work/state-debug "$azcmk" --ca-file "$work/ca.pem" account list >/dev/null 2>&1
	expect logout-json-removed 0 '"tokens": 1' -- env XDG_STATE_HOME="$work/state-debug" "$azcmk" logout -o json
	# The cache's path comes from the environment: no escape of it reaches the terminal.
	if env XDG_STATE_HOME="$work/x$(printf '\033')[31m" "$azcmk" logout 2>&1 | grep -q "$(printf '\033')"; then
		bad "logout-path-sanitized: an escape from XDG_STATE_HOME reached the terminal"
	else
		ok logout-path-sanitized
	fi
	expect logout-args 2 "logout takes no arguments" -- "$azcmk" logout now
	expect logout-no-demo 2 "option --demo does not apply to azcmk logout" -- "$azcmk" --demo logout
	expect keys-sim 0 "^cmk-test  *RSA 2048  *yes" -- "$azcmk" --ca-file "$work/ca.pem" keys kv-cmk-test
	expect keys-sim-uri-versions 0 '"current": true' -- \
		"$azcmk" --ca-file "$work/ca.pem" -o json keys https://kv-cmk-test.vault.azure.net/ --versions cmk-test
	expect keys-sim-no-vault 2 "named 'kv-other'" -- \
		"$azcmk" --ca-file "$work/ca.pem" keys kv-other --subscription 66666666-6666-4666-8666-666666666666
	# Hostile answers (the simulator's fault bodies): a subscription without
	# its id, a Resource Graph row without one, a list whose nextLink loops.
	# Each is the ordinary refusal, never a crash.
	if command -v curl >/dev/null; then
		fault() {
			curl -sS -o /dev/null --proxy "http://127.0.0.1:$proxy" --cacert "$work/ca.pem" \
				-H 'Content-Type: application/json' -d "$1" https://sim.local/faults
		}
		fault '{"method":"GET","path":"/subscriptions","status":200,"times":1,
			"body":{"value":[{"displayName":"Contoso Health Test","state":"Enabled"}]}}'
		expect hostile-subscription-without-id 2 "subscription 'Contoso Health Test' is not one you can see" -- \
			"$azcmk" --ca-file "$work/ca.pem" keys kv-cmk-test --subscription "Contoso Health Test"
		fault '{"method":"POST","path":"/providers/Microsoft.ResourceGraph/resources","status":200,"times":1,
			"body":{"totalRecords":1,"count":1,"resultTruncated":"false","data":[{"name":"ghost"}]}}'
		expect hostile-graph-row-without-id 2 "is named 'ghost' in the subscriptions you can see" -- \
			"$azcmk" --ca-file "$work/ca.pem" check ghost
		fault '{"method":"GET","path":"/keys","status":200,
			"body":{"value":[],"nextLink":"https://kv-cmk-test.vault.azure.net/keys?api-version=7.5&$skiptoken=9"}}'
		expect hostile-next-link-loop 2 "the list loops; refusing to read on" -- \
			"$azcmk" --ca-file "$work/ca.pem" keys https://kv-cmk-test.vault.azure.net/
		curl -sS -o /dev/null --proxy "http://127.0.0.1:$proxy" --cacert "$work/ca.pem" -X POST https://sim.local/reset
	fi
	AZURE_CLIENT_SECRET=wrong expect login-wrong-secret 2 "AADSTS7000215" -- "$azcmk" --ca-file "$work/ca.pem" login
	expect login-untrusted-ca 2 "could not be verified" -- "$azcmk" --ca-file /etc/ssl/certs/ca-certificates.crt login
	# REQUESTS_CA_BUNDLE (az's, from Python requests) is the bundle when --ca-file is not given, before
	# SSL_CERT_FILE; --ca-file still wins over it.
	expect login-requests-ca-bundle 0 "environment (client secret)" -- \
		env REQUESTS_CA_BUNDLE="$work/ca.pem" SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$azcmk" login
	expect login-ca-file-over-requests-bundle 2 "could not be verified" -- \
		env REQUESTS_CA_BUNDLE="$work/ca.pem" "$azcmk" --ca-file /etc/ssl/certs/ca-certificates.crt login
	expect login-without-requests-ca-bundle 2 "could not be verified" -- "$azcmk" login
	# AZURE_TOKEN_CREDENTIALS narrows the chain as azure-identity does; an explicit --auth wins over it.
	expect token-credentials-dev 2 "environment: left out by AZURE_TOKEN_CREDENTIALS" -- \
		env PATH=/nonexistent AZURE_TOKEN_CREDENTIALS=dev "$azcmk" --ca-file "$work/ca.pem" login
	expect token-credentials-auth-wins 0 "environment (client secret)" -- \
		env AZURE_TOKEN_CREDENTIALS=dev "$azcmk" --ca-file "$work/ca.pem" --auth environment login
	expect token-credentials-name 0 "environment (client secret)" -- \
		env AZURE_TOKEN_CREDENTIALS=environmentcredential "$azcmk" --ca-file "$work/ca.pem" login
	expect token-credentials-invalid 2 "AZURE_TOKEN_CREDENTIALS is 'laptop', which is not a valid value" -- \
		env AZURE_TOKEN_CREDENTIALS=laptop "$azcmk" --ca-file "$work/ca.pem" login
	# --auth cli follows the Azure CLI: its active cloud ([cloud] name= in $AZURE_CONFIG_DIR/config, or
	# AZURE_CLOUD_NAME) when --cloud is not given, and its default subscription (az account show).
	# A fake az on PATH gets its tokens from the simulator.
	mkdir -p "$work/bin" "$work/azcfg"
	cat >"$work/bin/az" <<EOF
#!/bin/sh
echo "\$*" >>"$work/az-calls"
case "\$1 \$2" in
"account get-access-token")
	curl -sS --proxy "http://127.0.0.1:$proxy" --cacert "$work/ca.pem" -d grant_type=client_credentials \\
		-d client_id=0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a -d client_secret=demo-secret -d "scope=\${4%/}/.default" \\
		https://login.microsoftonline.com/11111111-1111-4111-8111-111111111111/oauth2/v2.0/token |
		python3 -c 'import json, sys, time
t = json.load(sys.stdin)
print(json.dumps({"accessToken": t["access_token"], "expires_on": int(time.time()) + 3000}))' ;;
"account show")
	echo '{"id": "66666666-6666-4666-8666-666666666666", "name": "Contoso Health Test", "isDefault": true}' ;;
*)
	echo "fake az: unexpected: \$*" >&2
	exit 2 ;;
esac
EOF
	chmod +x "$work/bin/az"
	printf '[core]\noutput = json\n\n[cloud]\nname = AzureUSGovernment\n' >"$work/azcfg/config"
	(
		unset AZURE_CLIENT_SECRET
		export PATH="$work/bin:$PATH" AZURE_CONFIG_DIR="$work/azcfg"
		expect cli-follows-az-cloud 0 '"cloud": "AzureUSGovernment"' -- "$azcmk" --ca-file "$work/ca.pem" --auth cli -o json login
		if python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
want = {"id": "66666666-6666-4666-8666-666666666666", "name": "Contoso Health Test"}
sys.exit(0 if d["subscription"] == want and d["method"] == "azure-cli" else 1)' "$work/out"; then
			ok cli-az-default-subscription-json
		else
			bad "cli-az-default-subscription-json: $(head -c 400 "$work/out")"
		fi
		expect cli-az-default-subscription 0 \
			"subscription: Contoso Health Test (66666666-6666-4666-8666-666666666666), the Azure CLI's default" -- \
			"$azcmk" --ca-file "$work/ca.pem" --auth cli -o table login
		expect cli-cloud-option-wins 0 '"cloud": "AzureCloud"' -- \
			"$azcmk" --ca-file "$work/ca.pem" --auth cli --cloud AzureCloud -o json login
		expect cli-az-cloud-name-env 0 '"cloud": "AzureChinaCloud"' -- \
			env AZURE_CLOUD_NAME=AzureChinaCloud "$azcmk" --ca-file "$work/ca.pem" --auth cli -o json login
		expect cli-az-cloud-only-with-auth-cli 0 '"cloud": "AzureCloud"' -- \
			env AZURE_CLIENT_SECRET=demo-secret "$azcmk" --ca-file "$work/ca.pem" --auth environment -o json login
		expect cli-az-unknown-cloud 2 "the Azure CLI's active cloud is 'MyStack'.*give --cloud" -- \
			env AZURE_CLOUD_NAME=MyStack "$azcmk" --ca-file "$work/ca.pem" --auth cli login
		# configparser's rules: only [cloud] counts, option names in any case, ':' or '=', comments skipped.
		mkdir -p "$work/azcfg2"
		printf '[core]\nname = AzureChinaCloud\n[cloud]\n# name = AzureChinaCloud\n; name = AzureCloud\nNAME: AzureUSGovernment\n' \
			>"$work/azcfg2/config"
		expect cli-az-config-ini 0 '"cloud": "AzureUSGovernment"' -- \
			env AZURE_CONFIG_DIR="$work/azcfg2" "$azcmk" --ca-file "$work/ca.pem" --auth cli -o json login
		expect cli-no-az-config 0 '"cloud": "AzureCloud"' -- \
			env AZURE_CONFIG_DIR="$work/none" "$azcmk" --ca-file "$work/ca.pem" --auth cli -o json login
		# A FIFO in the config's place (or any file that is not regular) is not read: it cannot hang azcmk.
		mkdir -p "$work/azfifo" && mkfifo "$work/azfifo/config"
		expect cli-az-config-fifo 0 '"cloud": "AzureCloud"' -- \
			timeout 20 env AZURE_CONFIG_DIR="$work/azfifo" "$azcmk" --ca-file "$work/ca.pem" --auth cli -o json login
		# The chain keeps what the token cache vouches for: a second process finds
		# the Azure CLI's token there and neither probes IMDS nor runs az.
		azcalls() { wc -l <"$work/az-calls"; }
		# Who az signs in as (az keeps it in azureProfile.json): the cache's key for its tokens.
		printf '{"subscriptions": [{"id": "66666666-6666-4666-8666-666666666666", "isDefault": true}]}' \
			>"$work/azcfg/azureProfile.json"
		chain_run() {
			env XDG_STATE_HOME="$work/state-chain" "$azcmk" --ca-file "$work/ca.pem" --cloud AzureCloud \
				--debug account list >"$work/out" 2>"$work/trace"
		}
		chain_run
		if ! grep -q "metadata/identity" "$work/trace"; then
			bad "chain-first-run-probes: no IMDS probe traced: $(head -c 300 "$work/trace")"
		elif ! grep -q "Contoso Health Test" "$work/out"; then
			bad "chain-first-run-probes: $(head -c 300 "$work/out")"
		else
			ok chain-first-run-probes
		fi
		before=$(azcalls)
		chain_run
		if grep -q "metadata/identity" "$work/trace"; then
			bad "chain-cached-cli-no-imds-probe: the second run probed IMDS"
		elif [ "$(azcalls)" != "$before" ]; then
			bad "chain-cached-cli-no-imds-probe: the second run ran az: $(tail -1 "$work/az-calls")"
		elif ! grep -q "Contoso Health Test" "$work/out"; then
			bad "chain-cached-cli-no-imds-probe: $(head -c 300 "$work/out")"
		else
			ok chain-cached-cli-no-imds-probe
		fi
		echo "$pass $fail" >"$work/counts"
	)
	read -r pass fail <"$work/counts"
	unset AZURE_CLIENT_SECRET
	expect login-no-credential 2 "no credential found" -- env PATH=/nonexistent "$azcmk" --ca-file "$work/ca.pem" login
	echo "$pass $fail" >"$work/counts"
)
read -r pass fail <"$work/counts"

kill -TERM "$simpid"
wait "$simpid"
rc=$?
simpid=
[ "$rc" -eq 0 ] && ok "sigterm-clean-exit" || bad "sigterm-clean-exit: exit $rc"
if grep -q "demo-secret" "$work/log.jsonl"; then bad "log-redaction: the request log holds the client secret"; else ok "log-redaction"; fi
grep -q '"path":"/11111111-1111-4111-8111-111111111111/oauth2/v2.0/token"' "$work/log.jsonl" && ok "log-records-requests" ||
	bad "log-records-requests: $(head -c 300 "$work/log.jsonl")"

start_sim
kill -INT "$simpid"
wait "$simpid"
rc=$?
simpid=
[ "$rc" -eq 0 ] && ok "sigint-clean-exit" || bad "sigint-clean-exit: exit $rc"

"$sim" -s "$scen/minimal.json" --port-file "$work/nodir/ports.json" >"$work/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot write" "$work/out" && ok "unwritable-port-file" || bad "unwritable-port-file: exit $rc"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
