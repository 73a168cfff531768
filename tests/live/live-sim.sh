#!/bin/bash
# Keeps make check-live from rotting: runs tests/live/check-live.sh against azcmk-sim (the demo tenant) as if it
# were Azure: unconfigured, the redaction self-test, read-only, a write refused outside the group named, and a
# full write run, whose report must hold no secret, token, Authorization line, subscription or tenant id.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
live=$top_srcdir/tests/live/check-live.sh
scen=$top_srcdir/tests/scenarios/demo.json
work=$(mktemp -d)
simpid=
pass=0 fail=0
trap 'stop_sim; rm -rf "$work"' EXIT
command -v python3 >/dev/null 2>&1 || { echo "live-sim: not run: python3 is not installed"; exit 77; }
# No real credential, setting or metadata service may leak into the runs: only the simulator's.
unset AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_CLIENT_CERTIFICATE_PATH AZURE_FEDERATED_TOKEN_FILE \
	IDENTITY_ENDPOINT IDENTITY_HEADER MSI_ENDPOINT MSI_SECRET AZURE_AUTHORITY_HOST "${!AZCMK_LIVE_@}"
export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9 AZCMK=$top_builddir/src/azcmk

# Prints an "ok" line and counts it.
ok() {
	echo "ok   $1"
	pass=$((pass + 1))
}

# Prints a "FAIL" line with why, and counts it.
bad() {
	echo "FAIL $1: $2"
	fail=$((fail + 1))
}

# Starts the simulator on the demo tenant, logging requests; exports the proxy, the CA and the operator's secret.
start_sim() {
	"$top_builddir/src/azcmk-sim" --scenario "$scen" --port-file "$work/ports.json" --ca-out "$work/ca.pem" \
		--log "$work/log.jsonl" >"$work/sim.out" 2>&1 &
	simpid=$!
	for _ in $(seq 200); do [ -s "$work/ports.json" ] && break; sleep 0.05; done
	[ -s "$work/ports.json" ] || { echo "live-sim: the simulator did not start: $(cat "$work/sim.out")"; exit 99; }
	eval "$(python3 - "$work/ports.json" "$scen" <<'EOF'
import json, shlex, sys
ports, scen = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print('export HTTPS_PROXY=%s AZURE_TENANT_ID=%s AZURE_CLIENT_ID=%s AZURE_CLIENT_SECRET=%s' % tuple(
    shlex.quote(v) for v in ('http://127.0.0.1:%d' % ports['proxy'], scen['tenantId'],
                             scen['operator']['clientId'], scen['operator']['clientSecret'])))
EOF
	)"
	export NO_PROXY='' AZCMK_LIVE_CA_FILE=$work/ca.pem
}

# Stops the simulator.
stop_sim() {
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
	simpid=
}

# Runs check-live.sh as run NAME with the settings given as NAME=VALUE words; keeps its output and report.
live_run() {
	local name=$1
	shift
	env "$@" AZCMK_LIVE_REPORT="$work/$name.report" bash "$live" >"$work/$name.out" 2>&1
	rc=$?
}

# Fails run NAME unless the run exited WANT and its output has every one of the PATTERNS.
expect_run() {
	local name=$1 want=$2 p
	shift 2
	[ "$rc" -eq "$want" ] || { bad "$name" "exit $rc, wanted $want: $(tail -c 600 "$work/$name.out")"; return; }
	for p; do
		grep -q -- "$p" "$work/$name.out" || { bad "$name" "no '$p' in: $(tail -c 600 "$work/$name.out")"; return; }
	done
	ok "$name"
}

# Fails the report of run NAME if it shows a secret, a token, an Authorization line or a demo id, or lacks its parts.
clean_report() {
	local name=$1 r=$work/$1.report leak want how
	shift
	[ -s "$r" ] || { bad "$name-report" "no report written"; return; }
	[ "$(stat -c %a "$r")" = 600 ] || { bad "$name-report" "mode $(stat -c %a "$r"), wanted 600"; return; }
	# The secret and ids in any case; "eyJ" (the start of every JWT) in its own, as key material holds "EYj" and such.
	for leak in "$AZURE_CLIENT_SECRET" -eyJ authorization: 11111111-1111-4111-8111-111111111111 \
		22222222-2222-4222-8222-222222222222 33333333-3333-4333-8333-333333333333; do
		case $leak in -*) how=-F leak=${leak#-} ;; *) how=-iF ;; esac
		grep -q "$how" -- "$leak" "$r" &&
			{ bad "$name-report" "the report shows '$leak': $(grep -m 1 "$how" -- "$leak" "$r" | cut -c 1-300)"; return; }
	done
	for want in "^version: azcmk (azcmk) " "^date: 20" "<subscription>" "<tenant>" "^== login: ok" \
		"^\$ .*azcmk .*-o json login" "^== audit-deep: ok" "$@"; do
		grep -q -- "$want" "$r" || { bad "$name-report" "the report lacks '$want'"; return; }
	done
	ok "$name-report"
}

# Counts the writes (PUT, PATCH, DELETE, and a key creation) the simulator has logged.
writes() {
	grep -cE '"method":"(PUT|PATCH|DELETE)"|"path":"/keys/[^"]*/create"' "$work/log.jsonl"
}

# Without AZCMK_LIVE_SUBSCRIPTION, check-live says what to set and exits 0, touching nothing.
live_run not-configured
expect_run not-configured 0 "not run: set AZCMK_LIVE_SUBSCRIPTION"
bash "$live" --self-test >"$work/redaction-self-test.out" 2>&1
rc=$?
expect_run redaction-self-test 0 "^ok   redaction"

start_sim
# Read-only, the subscription by its display name, a DICOM service by workspace/service: every case passes.
live_run read-only AZCMK_LIVE_SUBSCRIPTION="Contoso Health Prod" AZCMK_LIVE_RESOURCE=chprodimaging/cardiology
expect_run read-only 0 "^ok   login" "^ok   account-list" "^ok   audit: 20 resources" "^ok   audit-deep" \
	"^ok   check: dicom" "^ok   plan: plan [0-9a-f]\{16\}: 2 steps (save-key, verify)" "^6 passed, 0 failed$"
clean_report read-only "^== plan: ok"
# The write part refuses a resource outside the resource group named, before any write.
live_run write-refused AZCMK_LIVE_SUBSCRIPTION=22222222-2222-4222-8222-222222222222 \
	AZCMK_LIVE_RESOURCE=chprodimaging/cardiology AZCMK_LIVE_WRITE=1 AZCMK_LIVE_RESOURCE_GROUP=rg-prod-bots
expect_run write-refused 1 "^FAIL write-guard: refused to write: .* is in resource group 'rg-prod-imaging'" \
	"^6 passed, 1 failed$"
n=$(writes)
if [ "$n" -eq 0 ]; then ok no-write-when-refused; else bad no-write-when-refused "$n writes logged"; fi
# The write part, in full, with --debug so that the report gets the traces (Authorization lines) to redact.
live_run write AZCMK_LIVE_SUBSCRIPTION=22222222-2222-4222-8222-222222222222 AZCMK_LIVE_RESOURCE=hb-ch-intake-prod \
	AZCMK_LIVE_RESOURCE_GROUP=RG-Prod-Bots AZCMK_LIVE_WRITE=1 AZCMK_LIVE_PROPAGATION_WAIT=0 AZCMK_LIVE_DEBUG=1 \
	AZCMK_LIVE_KEY=https://kv-ch-prod-bots.vault.azure.net/keys/cmk-bot
expect_run write 0 "^ok   write-guard" "^ok   plan-full" "^ok   apply: now uses key cmk-bot" "^ok   check-after-apply" \
	"^ok   rotate: now uses key cmk-bot" "^ok   refresh: now uses key cmk-bot" "^ok   check-final" "^13 passed, 0 failed$"
clean_report write "^== apply: ok" "^\$ .*azcmk .*--debug --yes --propagation-wait 0 apply " "^== check-final: ok"
if grep -q '"method":"PATCH","host":"management.azure.com","path":"[^"]*/hb-ch-intake-prod"' "$work/log.jsonl"; then
	ok writes-reached-the-sim
else
	bad writes-reached-the-sim "no PATCH of hb-ch-intake-prod in the request log"
fi
stop_sim

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
