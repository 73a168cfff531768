#!/bin/sh
# Tests azcmk guard as an operator runs it: the ARM template parses with the right schema and
# assignments at each scope, the az script passes sh -n and shellcheck and, run with a stand-in az
# that records its arguments, hands az exactly the assignments meant; usage mistakes; no network.
# The Python checks and the stand-in az are single-quoted on purpose: the shell expands nothing in them.
# shellcheck disable=SC2016
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
azcmk=$top_builddir/src/azcmk
work=$(mktemp -d)
pass=0 fail=0
trap 'rm -rf "$work"' EXIT
# guard asks nothing of Azure: any request would go to a closed port and fail.
export HTTPS_PROXY=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
export AZURE_CONFIG_DIR="$work/no-az-config" LC_ALL=C
unset AZURE_CORE_OUTPUT

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

SUB=0b1f6471-1bf0-4dda-aec3-111122223333
DICOM=14961b63-a1eb-4378-8725-7e84ca8db0e6
BOT=4d080fa5-a6d2-4f98-ba9c-f482d0d335c0
COG=67121cc7-ff39-4ab8-b7e3-95b84dab487d

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

# arm NAME SCHEMA EXPECT -- azcmk-args...: the template on stdout parses as JSON, has the schema, and
# its assignments are EXPECT ("name=definition:effect,..."), each name within the scope's limit.
arm() {
	name=$1 schema=$2 want=$3
	shift 4
	if ! "$azcmk" guard "$@" >"$work/t.json" 2>"$work/err"; then
		bad "$name: exit $?: $(head -c 300 "$work/err")"
		return
	fi
	if python3 -c 'import json, re, sys
t = json.load(open(sys.argv[1])); schema, want = sys.argv[2], sys.argv[3]
limit = 24 if "managementGroup" in schema else 64
got, defined = [], []
for r in t["resources"]:
    assert r["apiVersion"] == "2023-04-01", r
    if r["type"] == "Microsoft.Authorization/policyDefinitions":
        # A custom definition, before the assignment that names it (dependsOn).
        p = r["properties"]
        assert p["mode"] == "Indexed" and p["policyRule"]["then"]["effect"] == "[[parameters(\x27effect\x27)]", p
        assert p["parameters"]["effect"]["defaultValue"] == "Deny", p
        defined.append(r["name"])
        continue
    assert r["type"] == "Microsoft.Authorization/policyAssignments", r
    assert len(r["name"]) <= limit, r["name"]
    p = r["properties"]
    d = p["policyDefinitionId"]
    name = re.findall("[0-9A-Za-z-]+", d)[-1]
    if name in defined:
        assert r["dependsOn"] == [d], r
        if "managementGroup" in schema:
            assert d == "/providers/Microsoft.Management/managementGroups/%s/providers/Microsoft.Authorization/policyDefinitions/%s" % (sys.argv[4], name), d
        else:
            assert d == "[subscriptionResourceId(\x27Microsoft.Authorization/policyDefinitions\x27, \x27%s\x27)]" % name, d
        name = "custom:" + name
    else:
        assert d.startswith("/providers/Microsoft.Authorization/policyDefinitions/"), d
    got.append("%s=%s:%s" % (r["name"], name, p["parameters"]["effect"]["value"]))
assert t["$schema"] == schema, t["$schema"]
assert t["contentVersion"] == "1.0.0.0"
assert ",".join(got) == want, got' "$work/t.json" "$schema" "$want" "${mg:-}" 2>"$work/py"; then
		ok "$name"
	else
		bad "$name: $(tail -1 "$work/py")"
	fi
}

SUBSCHEMA="https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
MGSCHEMA="https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#"

expect guard-help 0 "Nothing is asked of" -- "$azcmk" guard --help
arm arm-all-audit "$SUBSCHEMA" \
	"azcmk-cmk-dicom=$DICOM:Audit,azcmk-cmk-healthbot=$BOT:Audit,azcmk-cmk-cognitive=$COG:Audit" -- --format arm
arm arm-default-format "$SUBSCHEMA" "azcmk-cmk-dicom=$DICOM:Audit" -- --service dicom
# With --deny, DICOM and Health Bot (built-ins that allow no Deny) are assigned guard's custom definitions.
mg=contoso-prod arm arm-deny-mg "$MGSCHEMA" \
	"azcmk-cmk-dicom=custom:azcmk-cmk-dicom-deny:Deny,azcmk-cmk-healthbot=custom:azcmk-cmk-healthbot-deny:Deny,azcmk-cmk-cognitive=$COG:Deny" -- \
	--deny --management-group contoso-prod
arm arm-deny-sub "$SUBSCHEMA" "azcmk-cmk-dicom=custom:azcmk-cmk-dicom-deny:Deny" -- --deny --service dicom
arm arm-openai-sub "$SUBSCHEMA" "azcmk-cmk-cognitive=$COG:Deny" -- --deny --service openai --subscription "$SUB"
# Foundry (kind AIServices) is in the built-in's default excludedKinds: the assignment takes it off.
"$azcmk" guard --service foundry >"$work/f.json" 2>/dev/null
if python3 -c 'import json, sys
k = json.load(open(sys.argv[1]))["resources"][0]["properties"]["parameters"]["excludedKinds"]["value"]
sys.exit(0 if "AIServices" not in k and "OpenAI" not in k and "LUIS" in k else 1)' "$work/f.json"; then
	ok "arm-foundry-judged"
else
	bad "arm-foundry-judged: $(head -c 300 "$work/f.json")"
fi
# Deny refused by a built-in: said on stderr, with the custom definition that stands in.
expect deny-refused-said 0 "not Deny: guard writes the custom policy definition azcmk-cmk-healthbot-deny" -- \
	"$azcmk" guard --deny --service healthbot
# The whole template of --deny for DICOM and Health Bot, as written (a golden file: any change is deliberate).
if "$azcmk" guard --deny --service dicom --service healthbot --subscription "$SUB" >"$work/golden.json" 2>/dev/null &&
	diff -u "$top_srcdir/tests/sim/golden/guard-deny-custom.json" "$work/golden.json" >"$work/diff"; then
	ok "arm-deny-custom-golden"
else
	bad "arm-deny-custom-golden: $(head -c 600 "$work/diff")"
fi
expect deploy-hint 0 "az deployment mg create --management-group-id contoso-prod" -- \
	"$azcmk" guard --management-group contoso-prod
expect quiet-notes 0 "" -- "$azcmk" guard --deny --only-show-errors --service dicom
if grep -q "^Note:" "$work/out"; then bad "quiet-notes: --only-show-errors printed a note"; else ok "quiet-notes-none"; fi

# The az script: parses (sh -n, shellcheck where installed), then run with a stand-in az.
"$azcmk" guard --deny --format az >"$work/all.sh" 2>/dev/null
"$azcmk" guard --format az --management-group 'Contoso_(EU)' >"$work/mg.sh" 2>/dev/null
"$azcmk" guard --format az --subscription "$SUB" --service foundry >"$work/sub.sh" 2>/dev/null
"$azcmk" guard --deny --format az --management-group 'Contoso_(EU)' --service dicom >"$work/mg-deny.sh" 2>/dev/null
"$azcmk" guard --deny --format az --subscription "$SUB" --service healthbot >"$work/sub-deny.sh" 2>/dev/null
for s in all mg sub mg-deny sub-deny; do
	if sh -n "$work/$s.sh"; then ok "az-$s-sh-n"; else bad "az-$s-sh-n"; fi
	if head -1 "$work/$s.sh" | grep -q '^#!/bin/sh$' && grep -q '^set -eu$' "$work/$s.sh"; then
		ok "az-$s-set-eu"
	else
		bad "az-$s-set-eu"
	fi
	if command -v shellcheck >/dev/null 2>&1; then
		if shellcheck -s sh "$work/$s.sh" >"$work/sc" 2>&1; then ok "az-$s-shellcheck"; else
			bad "az-$s-shellcheck: $(head -c 300 "$work/sc")"
		fi
	else
		echo "skip shellcheck: not installed"
	fi
done
mkdir -p "$work/bin"
cat >"$work/bin/az" <<'EOF'
#!/bin/sh
# A stand-in az: answers az account show with a subscription id, records every other call's
# arguments, one per line, a blank line after each call.
if [ "$1 $2" = "account show" ]; then
	echo 11111111-2222-4333-8444-555555555555
	exit 0
fi
for a in "$@"; do printf '%s\n' "$a"; done >>"$AZ_CALLS"
echo >>"$AZ_CALLS"
EOF
chmod +x "$work/bin/az"
# calls NAME SCRIPT EXPECT: runs SCRIPT with the stand-in az; each call must be az policy assignment
# create with --scope, --policy and --params (JSON) as EXPECT says ("scope|name=definition:effect,...").
calls() {
	name=$1 script=$2 want=$3
	: >"$work/calls"
	if ! AZ_CALLS=$work/calls PATH="$work/bin:$PATH" sh "$script" >"$work/err" 2>&1; then
		bad "$name: the script failed: $(head -c 300 "$work/err")"
		return
	fi
	if python3 -c 'import json, sys
calls = open(sys.argv[1]).read().split("\n\n")[:-1]
got, scopes, defined = [], set(), {}
for c in calls:
    a = c.split("\n")
    v = dict(zip(a[3::2], a[4::2]))
    if a[:3] == ["policy", "definition", "create"]:
        # A custom definition: Indexed, a rule and an effect parameter that parse, where the scope is.
        assert v["--mode"] == "Indexed", v
        assert json.loads(v["--rules"])["then"]["effect"] == "[parameters(\x27effect\x27)]", v["--rules"]
        assert json.loads(v["--params"])["effect"]["defaultValue"] == "Deny", v["--params"]
        at = ("/subscriptions/" + v["--subscription"]) if "--subscription" in v else \
            "/providers/Microsoft.Management/managementGroups/" + v["--management-group"]
        defined[at + "/providers/Microsoft.Authorization/policyDefinitions/" + v["--name"]] = v["--name"]
        continue
    assert a[:3] == ["policy", "assignment", "create"], a
    scopes.add(v["--scope"])
    p = json.loads(v["--params"])
    policy = v["--policy"]
    if policy in defined:  # a custom definition, by its id, made before
        policy = "custom:" + defined[policy]
    else:
        assert "/" not in policy, policy  # a name: az 2.45 sends an id as a name
    got.append("%s=%s:%s" % (v["--name"], policy, p["effect"]["value"]))
    assert v["--enforcement-mode"] == "Default"
want_scope, want = sys.argv[2].split("|")
assert scopes == {want_scope}, scopes
assert ",".join(got) == want, got' "$work/calls" "$want" 2>"$work/py"; then
		ok "$name"
	else
		bad "$name: $(tail -1 "$work/py")"
	fi
}
calls az-current-subscription "$work/all.sh" \
	"/subscriptions/11111111-2222-4333-8444-555555555555|azcmk-cmk-dicom=custom:azcmk-cmk-dicom-deny:Deny,azcmk-cmk-healthbot=custom:azcmk-cmk-healthbot-deny:Deny,azcmk-cmk-cognitive=$COG:Deny"
calls az-deny-management-group "$work/mg-deny.sh" \
	"/providers/Microsoft.Management/managementGroups/Contoso_(EU)|azcmk-cmk-dicom=custom:azcmk-cmk-dicom-deny:Deny"
calls az-deny-subscription "$work/sub-deny.sh" "/subscriptions/$SUB|azcmk-cmk-healthbot=custom:azcmk-cmk-healthbot-deny:Deny"
calls az-management-group "$work/mg.sh" \
	"/providers/Microsoft.Management/managementGroups/Contoso_(EU)|azcmk-cmk-dicom=$DICOM:Audit,azcmk-cmk-healthbot=$BOT:Audit,azcmk-cmk-cognitive=$COG:Audit"
calls az-subscription "$work/sub.sh" "/subscriptions/$SUB|azcmk-cmk-cognitive=$COG:Audit"
# Without a current subscription the script stops before assigning anything.
printf '#!/bin/sh\n[ "$1" = account ] && exit 0\necho called >>"$AZ_CALLS"\n' >"$work/bin/az"
: >"$work/calls"
AZ_CALLS=$work/calls PATH="$work/bin:$PATH" sh "$work/all.sh" >"$work/err" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && [ ! -s "$work/calls" ] && grep -q "no current subscription" "$work/err"; then
	ok "az-no-subscription-stops"
else
	bad "az-no-subscription-stops: exit $rc: $(head -c 200 "$work/err")"
fi

# Usage mistakes.
expect guard-bad-format 2 "invalid --format 'text' for guard: use arm or az" -- "$azcmk" guard --format text
expect guard-bad-subscription 2 "'prod' is not a subscription id" -- "$azcmk" guard --subscription prod
expect guard-bad-mg 2 "is not a management group name" -- "$azcmk" guard --management-group "a/b"
expect guard-both-scopes 2 "choose --subscription or --management-group" -- \
	"$azcmk" guard --subscription "$SUB" --management-group contoso-prod
expect guard-two-subscriptions 2 "give --subscription once" -- \
	"$azcmk" guard --subscription "$SUB" --subscription "$SUB"
expect guard-no-argument 2 "guard takes no argument" -- "$azcmk" guard dicom-prod
expect guard-bad-service 2 "invalid --service 'fhir'" -- "$azcmk" guard --service fhir
expect guard-option-not-its 2 "option --yes does not apply to azcmk guard" -- "$azcmk" guard --yes
# guard asks nothing of Azure: the options for signing in, and the demo tenant, are not its.
for g in --demo "--tenant 11111111-1111-4111-8111-111111111111" "--auth cli" "--cloud AzureCloud" --debug; do
	# shellcheck disable=SC2086 # the option and its value are two words
	expect "guard-refuses${g%% *}" 2 "option ${g%% *} does not apply to azcmk guard" -- "$azcmk" $g guard
done
expect deny-not-for-audit 2 "option --deny does not apply to azcmk audit" -- "$azcmk" audit --deny

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
