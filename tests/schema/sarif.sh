#!/bin/sh
# Holds azcmk's SARIF to the official SARIF 2.1.0 JSON schema (sarif-schema-2.1.0.json beside this script, see
# README): the demo's audit, plain, deep and under a French locale, and an audit that stopped before its first
# result (the simulator refuses the subscription list), which must still be a whole log marked unsuccessful.
# Also the rule references the schema cannot see, and that the validator rejects a log that breaks the schema.
# Needs python3 with jsonschema (Debian: python3-jsonschema); skipped (77) without it.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
azcmk=$top_builddir/src/azcmk
sim=$top_builddir/src/azcmk-sim
schema=$top_srcdir/tests/schema/sarif-schema-2.1.0.json
pass=0 fail=0

command -v curl >/dev/null 2>&1 || { echo "skip: curl is not installed (apt-get install curl)"; exit 77; }
if ! python3 -c 'import jsonschema' 2>/dev/null; then
	echo "skip: python3's jsonschema module is missing (apt-get install python3-jsonschema)"
	exit 77
fi
work=$(mktemp -d)
simpid=''
trap '[ -n "$simpid" ] && kill "$simpid" 2>/dev/null; rm -rf "$work"' EXIT

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# validate FILE SUCCESS: checks FILE against the schema (formats uri and uri-reference held to RFC 3986's
# characters), each result's ruleIndex against the rule it names, and that the one invocation's
# executionSuccessful is SUCCESS (true or false). Prints what is wrong; fails when anything is.
validate() {
	python3 - "$schema" "$1" "$2" <<'EOF'
import json, re, sys
import jsonschema

schema_path, log_path, success = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
checker = jsonschema.FormatChecker()
URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")

@checker.checks("uri-reference")
def uri_reference(v):
    return not isinstance(v, str) or (URI_CHARS.match(v) is not None and v.count("#") <= 1)

@checker.checks("uri")
def uri(v):
    return not isinstance(v, str) or (uri_reference(v) and re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", v) is not None)

schema = json.load(open(schema_path))
try:
    log = json.load(open(log_path))
except ValueError as e:
    sys.exit("not JSON: %s" % e)
v = jsonschema.Draft4Validator(schema, format_checker=checker)
errors = sorted(v.iter_errors(log), key=lambda e: list(e.absolute_path))
for e in errors[:10]:
    print("  at /%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message[:300]))
if errors:
    sys.exit(1)
bad = []
for run in log["runs"]:
    rules = run["tool"]["driver"].get("rules", [])
    for r in run.get("results", []):
        i = r.get("ruleIndex")
        if i is None or i >= len(rules) or rules[i]["id"] != r.get("ruleId"):
            bad.append("result %s: ruleIndex %s does not name rule %s" % (r.get("message"), i, r.get("ruleId")))
    inv = run.get("invocations", [])
    if len(inv) != 1 or inv[0].get("executionSuccessful") is not success:
        bad.append("invocations should be one with executionSuccessful %s: %s" % (success, inv))
    elif not success and not inv[0].get("toolExecutionNotifications"):
        bad.append("an unsuccessful run should say why in toolExecutionNotifications")
for b in bad[:10]:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
}

# check NAME WANT-EXIT SUCCESS -- command...: runs the command (standard output to the log), then checks its exit
# status and the log.
check() {
	name=$1 want=$2 success=$3
	shift 4
	"$@" >"$work/log.sarif" 2>"$work/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "$name: exit $rc, wanted $want: $(head -c 300 "$work/err")"
	elif validate "$work/log.sarif" "$success" >"$work/why" 2>&1; then
		ok "$name: valid SARIF 2.1.0"
	else
		bad "$name: the log breaks SARIF 2.1.0:"
		cat "$work/why"
	fi
}

# The validator itself: the schema is the 2.1.0 one, and a log breaking it is refused.
if python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if "2.1.0" in s["id"] and "title" in s else 1)' \
	"$schema"; then
	ok "the schema is SARIF 2.1.0's"
else
	bad "$schema is not the SARIF 2.1.0 schema"
fi
printf '%s\n' '{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"level":"fatal",' \
	'"message":{"text":"m"}}],"invocations":[{"executionSuccessful":true}]}]}' >"$work/broken.sarif"
if validate "$work/broken.sarif" true >/dev/null; then
	bad "the validator takes a result whose level is not one of SARIF's"
else
	ok "the validator refuses a log that breaks the schema"
fi

# The demo tenant has findings at the default --fail-on: exit 1.
check "demo audit" 1 true -- env XDG_STATE_HOME="$work/state" "$azcmk" --demo audit -o sarif
check "demo audit --deep" 1 true -- env XDG_STATE_HOME="$work/state" "$azcmk" --demo audit --deep -o sarif
if locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	check "demo audit under a French locale" 1 true -- \
		env XDG_STATE_HOME="$work/state" LC_ALL=fr_FR.UTF-8 "$azcmk" --demo audit -o sarif
else
	echo "skip the French run: no fr_FR.UTF-8 locale (locale-gen)"
fi

# An audit that stops: the simulator refuses the subscription list; the log is still whole, and says why.
"$sim" --scenario "$top_srcdir/tests/scenarios/demo.json" --port-file "$work/ports.json" --ca-out "$work/ca.pem" \
	>/dev/null 2>&1 &
simpid=$!
i=0
while [ ! -s "$work/ports.json" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
proxy=$(sed 's/.*"proxy": *\([0-9]*\).*/\1/' "$work/ports.json")
[ -n "$proxy" ] || { echo "the simulator did not start"; exit 99; }
if ! curl -s -f -x "http://127.0.0.1:$proxy" --cacert "$work/ca.pem" -X POST -H 'Content-Type: application/json' \
	-d '{"method":"GET","path":"/subscriptions","status":403}' https://sim.local/faults >/dev/null; then
	echo "the simulator refused the fault"
	exit 99
fi
check "audit stopped by a refused subscription list" 2 false -- \
	env -i PATH=/usr/bin:/bin HOME="$work" XDG_STATE_HOME="$work/state" HTTPS_PROXY="http://127.0.0.1:$proxy" \
	AZURE_TENANT_ID=11111111-1111-4111-8111-111111111111 AZURE_CLIENT_ID=0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a \
	AZURE_CLIENT_SECRET=demo-secret AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9 \
	"$azcmk" --ca-file "$work/ca.pem" --auth environment audit -o sarif

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
