#!/bin/bash
# Benchmark of the operator's three commands (azcmk check, plan --file, apply), each its own process, against
# the Azure CLI making the same changes: the script `azcmk plan --format az` exports, run by the real az.
#
# Each run starts a fresh simulator (the change is made once per tenant), so a run is one operator's first
# change. Cold: a new XDG_STATE_HOME, so azcmk signs in (no token cache); for az, `az login` plus the script.
# Warm: the token cache filled first by an untimed command (azcmk check, which changes nothing; az login),
# then the flow alone.
# Prints the medians at 0 and 50 ms per answer, then a "goal" line for make bench's summary.
# BENCH_RUNS sets azcmk's runs of each figure (default 5), BENCH_AZ_RUNS az's (default 3: az varies by
# seconds on a shared machine); make bench's BENCH_QUICK=1 sets both to 1.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
conf=$top_srcdir/../shared/conformance
azcmk=$top_builddir/src/azcmk
sim=$top_builddir/src/azcmk-sim
AZ=${AZ:-az} # the Azure CLI to compare with (AZ=/nonexistent shows the run without it)
runs=${BENCH_RUNS:-5}
az_runs=${BENCH_AZ_RUNS:-3}
GOAL_RATIO=8

T=11111111-1111-4111-8111-111111111111
APP=33333333-3333-4333-8333-333333333333
SECRET=s3cret-operator
RES=oai-prod
KEY=https://kv-health.vault.azure.net/keys/cmk-rsa
work=$(mktemp -d)
simpid=

# Stops the simulator.
stop_sim() {
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
	simpid=
}
trap 'stop_sim; rm -rf "$work"' EXIT

if [ ! -f "$conf/scenario-az.json" ]; then
	echo "skip the three-command flow: no $conf/scenario-az.json (the shared folder is not beside this checkout)"
	echo "goal  skipped  check + plan + apply vs az (3 processes), 50 ms: no conformance scenario" \
		"(goal azcmk >= ${GOAL_RATIO}x faster)"
	exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "skip the three-command flow: python3 is not installed (it reads the simulator's ports)"
	echo "goal  skipped  check + plan + apply vs az (3 processes), 50 ms: no python3 (goal azcmk >= ${GOAL_RATIO}x faster)"
	exit 0
fi
have_az=yes
# The exported script calls az by name: the one chosen comes first on its PATH.
azpath=$(dirname "$(command -v "$AZ" 2>/dev/null || echo /nonexistent/az)"):$PATH
if ! command -v "$AZ" >/dev/null 2>&1; then
	have_az=
	echo "skip az: the Azure CLI ($AZ) is not installed (apt-get install azure-cli); azcmk's figures alone"
fi

# Prints the milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Prints a figure with its unit, or the word that stands for it (failed, absent).
ms() { case $1 in *[!0-9]*) echo "$1" ;; *) echo "$1 ms" ;; esac; }

# Prints the median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Starts the simulator on the conformance scenario with LATENCY ms per answer; points azcmk and az at it.
start_sim() {
	rm -f "$work/ports.json"
	"$sim" --scenario "$conf/scenario-az.json" --port-file "$work/ports.json" --ca-out "$work/ca.pem" \
		--latency-ms "$1" >"$work/sim.out" 2>&1 &
	simpid=$!
	for _ in $(seq 100); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
	[ -s "$work/ports.json" ] || { echo "bench-flow: the simulator did not start:"; cat "$work/sim.out"; exit 1; }
	local port
	port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['proxy'])" "$work/ports.json")
	export HTTPS_PROXY=http://127.0.0.1:$port NO_PROXY='' REQUESTS_CA_BUNDLE=$work/ca.pem
	rm -rf "$work/state" "$work/az"
}

export AZURE_CONFIG_DIR=$work/az XDG_STATE_HOME=$work/state LANG=C
export AZURE_TENANT_ID=$T AZURE_CLIENT_ID=$APP AZURE_CLIENT_SECRET=$SECRET
export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9
export PYTHONPATH=$conf/pyshim AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_ONLY_SHOW_ERRORS=true \
	AZURE_CORE_NO_COLOR=true AZURE_CORE_SURVEY_MESSAGE=false AZURE_EXTENSION_USE_DYNAMIC_INSTALL=no \
	AZCMK_PROPAGATION_WAIT=0

# The three commands as an operator types them; check exits 1 when it reports what the change will fix.
flow() {
	"$azcmk" --ca-file "$work/ca.pem" check "$RES" --key "$KEY" >"$work/out" 2>&1
	[ $? -le 1 ] || return 1
	"$azcmk" --ca-file "$work/ca.pem" plan "$RES" --key "$KEY" --file "$work/plan.json" >>"$work/out" 2>&1 &&
		"$azcmk" --ca-file "$work/ca.pem" --yes --propagation-wait 0 apply "$work/plan.json" >>"$work/out" 2>&1
}

# One azcmk run at LATENCY, cold or warm (MODE); prints its milliseconds, or fails.
azcmk_run() {
	local t0 t1
	start_sim "$1"
	if [ "$2" = warm ]; then
		"$azcmk" --ca-file "$work/ca.pem" check "$RES" --key "$KEY" >/dev/null 2>&1
		[ $? -le 1 ] || { stop_sim; return 1; }
	fi
	t0=$(now_ms)
	flow || { stop_sim; echo "bench-flow: azcmk's flow failed:" >&2; cat "$work/out" >&2; return 1; }
	t1=$(now_ms)
	stop_sim
	echo $((t1 - t0))
}

# One az run at LATENCY, cold (az login timed) or warm (MODE); the script is exported untimed on the same
# simulator before anything changes; prints the milliseconds, or fails.
az_run() {
	local t0 t1
	start_sim "$1"
	"$azcmk" --ca-file "$work/ca.pem" plan "$RES" --key "$KEY" --format az --file "$work/plan.sh" \
		>"$work/out" 2>&1 || { stop_sim; echo "bench-flow: plan --format az failed:" >&2; cat "$work/out" >&2; return 1; }
	rm -rf "$work/state"
	[ "$2" = warm ] && { az_login || { stop_sim; return 1; }; }
	t0=$(now_ms)
	if [ "$2" = cold ]; then az_login || { stop_sim; return 1; }; fi
	PATH=$azpath sh "$work/plan.sh" >"$work/out" 2>&1 || { stop_sim; echo "bench-flow: the az script failed:" >&2; cat "$work/out" >&2; return 1; }
	t1=$(now_ms)
	stop_sim
	echo $((t1 - t0))
}

# Signs az in as the operator's service principal.
az_login() {
	"$AZ" login --service-principal -u "$APP" -p "$SECRET" --tenant "$T" >/dev/null 2>"$work/out" ||
		{ echo "bench-flow: az login failed:" >&2; cat "$work/out" >&2; return 1; }
}

# Prints the median of N runs of a function (azcmk_run or az_run) at LATENCY and MODE, or "failed".
measure() {
	local v all=()
	for _ in $(seq "$1"); do
		v=$("$2" "$3" "$4") || { echo failed; return; }
		all+=("$v")
	done
	median "${all[@]}"
}

echo "-- check + plan + apply of one resource ($RES, Azure OpenAI), three azcmk processes, a fresh simulator each run;"
echo "   az runs the script plan --format az exports (the same writes and read-back);"
echo "   median of $runs azcmk runs and $az_runs az runs"
declare -A fig
for lat in 0 50; do
	for mode in cold warm; do
		fig[azcmk.$lat.$mode]=$(measure "$runs" azcmk_run $lat $mode)
		if [ -n "$have_az" ]; then
			fig[az.$lat.$mode]=$(measure "$az_runs" az_run $lat $mode)
		else
			fig[az.$lat.$mode]=absent
		fi
		a=${fig[azcmk.$lat.$mode]} b=${fig[az.$lat.$mode]}
		line=$(printf 'flow %2d ms  %-4s  azcmk %9s' $lat $mode "$(ms "$a")")
		case $a$b in
		*failed* | *absent*) printf '%s  az %s\n' "$line" "$(ms "$b")" ;;
		*) printf '%s  az %9s  az / azcmk %5.1f\n' "$line" "$(ms "$b")" "$(echo "$b $a" | awk '{ print $1 / $2 }')" ;;
		esac
	done
done
echo "   (cold: azcmk signs in, az login is timed with the script; warm: both already signed in)"

# The goal, at 50 ms: azcmk at least GOAL_RATIO times faster than az, cold against cold and warm against warm.
what="check + plan + apply vs az (3 processes), 50 ms"
if [ -z "$have_az" ]; then
	echo "goal  skipped  $what: az is not installed (goal azcmk >= ${GOAL_RATIO}x faster)"
	exit 0
fi
case ${fig[azcmk.50.cold]}${fig[az.50.cold]}${fig[azcmk.50.warm]}${fig[az.50.warm]} in
*failed*)
	echo "goal  NOT met  $what: a run failed (goal azcmk >= ${GOAL_RATIO}x faster)"
	exit 1
	;;
esac
echo "${fig[az.50.cold]} ${fig[azcmk.50.cold]} ${fig[az.50.warm]} ${fig[azcmk.50.warm]} $GOAL_RATIO" | awk -v what="$what" '{
	cold = $1 / $2; warm = $3 / $4; low = cold < warm ? cold : warm
	printf "goal  %-7s  %s: az/azcmk %.1fx cold (%d vs %d ms), %.1fx warm (%d vs %d ms) (goal >= %dx)\n",
		(low >= $5) ? "met" : "NOT met", what, cold, $1, $2, warm, $3, $4, $5 }'
