#!/bin/bash
# make bench: runs every benchmark, each printing its figures beside issue 13's goals ("goal  met|NOT met ..."
# lines), then a summary of every goal with its measured figure. Measures only: a goal not met does not fail
# it; a benchmark that cannot run fails it (exit 1), a missing tool (az, python3) is skipped with a message.
#
# BENCH_QUICK=1 runs smaller audits (1,000 resources in 20 and in 100 subscriptions, 10,000 in 20, whose
# goals are judged against the paging limit of their own size) and one run of each three-command figure,
# for a quick look in about a minute; the default is the goals' sizes, two to three minutes on two cores.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
export top_srcdir top_builddir
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0

if [ "${BENCH_QUICK:-}" = 1 ]; then
	sizes="1000:20 1000:100 10000:20"
	export BENCH_RUNS=${BENCH_RUNS:-1} BENCH_AZ_RUNS=${BENCH_AZ_RUNS:-1} BENCH_FLEET_N=${BENCH_FLEET_N:-40}
	export BENCH_FLEET_SINGLES=${BENCH_FLEET_SINGLES:-4}
else
	sizes="10000:20 10000:1000 100000:20"
fi

# section TITLE -- COMMAND...: prints the title, runs the command with its output kept in the log.
section() {
	local title=$1
	shift 2
	echo "== $title"
	"$@" 2>&1 | tee -a "$log"
	local rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ]; then
		echo "goal  NOT met  $title: the benchmark failed (exit $rc)" | tee -a "$log"
		failed=1
	fi
}

section "simulator" -- "$top_builddir/tests/sim/bench-sim"
section "session layer" -- "$top_builddir/tests/azure/bench-http"
section "check, plan and apply in one process" -- "$top_builddir/tests/azure/bench-cmk"
section "check, plan and apply as three commands, and az" -- bash "$top_srcdir/tests/azure/bench-flow.sh"
section "fleet (issue 14): fix --all against single fixes" -- bash "$top_srcdir/tests/azure/bench-fleet.sh"
# shellcheck disable=SC2086 # the sizes are words
section "audit" -- "$top_builddir/tests/azure/bench-audit" $sizes
# On Azure every Resource Graph page takes one of the user's 15 queries per 5 s: past 15 pages the audit is
# paced by that quota, not by latency (a figure, not a goal: the goals' paging limit leaves the quota out).
section "audit under Resource Graph's default quota" -- env BENCH_GRAPH_QUOTA=15 \
	"$top_builddir/tests/azure/bench-audit" "${sizes##* }"
# The wizard audits deep: the checks of the keys in use go in waves of 16 beside the pages (a figure).
section "audit --deep" -- env BENCH_DEEP=1 "$top_builddir/tests/azure/bench-audit" "${sizes%% *}"
if command -v python3 >/dev/null 2>&1; then
	section "wizard" -- python3 "$top_srcdir/tests/ui/bench-ui.py"
else
	echo "== wizard"
	echo "goal  skipped  wizard start to first frame: python3 is not installed" | tee -a "$log"
fi

echo
echo "== summary: issues 13's and 14's goals (met / NOT met, with the figure measured now)"
grep '^goal ' "$log" | sed 's/^goal  //'
grep '^quota ' "$log" | sed 's/^quota  /figure   /'
grep '^deep ' "$log" | sed 's/^deep   /figure   /'
met=$(grep -c '^goal  met ' "$log")
skipped=$(grep -c '^goal  skipped ' "$log")
all=$(grep -c '^goal ' "$log")
echo "$met of $all goals met, $skipped not measured${BENCH_QUICK:+ (quick sizes)}"
exit $failed
