# Shared by the shell tests that run azcmk against the simulator (sourced, not run): a private work
# directory, a clean environment, the simulator on a scenario, and the ok/bad/check/expect helpers.
# The caller sets top_srcdir and top_builddir; after sim_start SCENARIO, az runs azcmk signed in as the
# scenario's operator, and simget PATH reads an admin endpoint (/log, /state).
# shellcheck shell=sh disable=SC2034
set -u
azcmk=$top_builddir/src/azcmk
work=$(mktemp -d)
pass=0 fail=0
simpid=
export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9
unset AZURE_CLIENT_CERTIFICATE_PATH AZURE_FEDERATED_TOKEN_FILE IDENTITY_ENDPOINT IDENTITY_HEADER MSI_ENDPOINT \
	MSI_SECRET IMDS_ENDPOINT AZURE_TOKEN_CREDENTIALS REQUESTS_CA_BUNDLE SSL_CERT_FILE CURL_CA_BUNDLE AZURE_CLOUD_NAME \
	AZURE_CORE_OUTPUT
export AZURE_CONFIG_DIR="$work/no-az-config" XDG_STATE_HOME="$work/state" LC_ALL=C NO_PROXY=
trap '[ -n "$simpid" ] && kill "$simpid" 2>/dev/null; rm -rf "$work"' EXIT
command -v python3 >/dev/null 2>&1 || { echo "skip: python3 is not installed"; exit 77; }

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# sim_start SCENARIO: starts the simulator on it and exports the proxy and the operator's secret.
sim_start() {
	"$top_builddir/src/azcmk-sim" --scenario "$1" --port-file "$work/ports.json" --ca-out "$work/ca.pem" \
		>"$work/sim.out" 2>&1 &
	simpid=$!
	i=0
	while [ ! -s "$work/ports.json" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	[ -s "$work/ports.json" ] || { echo "the simulator did not start: $(cat "$work/sim.out")"; exit 99; }
	eval "$(python3 - "$work/ports.json" "$1" <<'PY'
import json, shlex, sys
ports, scen = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print('export HTTPS_PROXY=%s AZURE_TENANT_ID=%s AZURE_CLIENT_ID=%s AZURE_CLIENT_SECRET=%s' % tuple(
    shlex.quote(v) for v in ('http://127.0.0.1:%d' % ports['proxy'], scen['tenantId'],
                             scen['operator']['clientId'], scen['operator']['clientSecret'])))
PY
)"
}

# az ARGS...: azcmk signed in as the scenario's operator through the simulator.
az() { "$azcmk" --ca-file "$work/ca.pem" --auth environment "$@"; }

# simget PATH: an admin endpoint of the simulator (GET).
simget() { curl -s --proxy "$HTTPS_PROXY" --cacert "$work/ca.pem" "https://sim.local$1"; }
# simadmin METHOD PATH [BODY]: calls an admin endpoint (/faults, /reset, /clock) with a JSON body; prints the answer.
simadmin() {
	curl -s --proxy "$HTTPS_PROXY" --cacert "$work/ca.pem" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} \
		"https://sim.local$2"
}

# check NAME PYTHON-EXPRESSION FILE: holds a JSON file to an expression over d (the document).
check() {
	if python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
sys.exit(0 if eval(sys.argv[1]) else 1)' "$2" "$3" 2>"$work/check.err"; then
		ok "$1"
	else
		bad "$1: $(head -c 400 "$3") $(cat "$work/check.err")"
	fi
}

# expect NAME WANT-EXIT GREP-PATTERN -- command...: checks the exit status and that the output matches.
expect() {
	name=$1 want=$2 pattern=$3
	shift 4
	"$@" >"$work/out" 2>&1
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "$name: exit $rc, wanted $want: $(head -c 400 "$work/out")"
	elif [ -n "$pattern" ] && ! grep -q -- "$pattern" "$work/out"; then
		bad "$name: output lacks '$pattern': $(head -c 400 "$work/out")"
	else
		ok "$name"
	fi
}

# finish: the summary line, and the exit status.
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
