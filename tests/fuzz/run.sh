#!/bin/sh
# Runs the libFuzzer harnesses, each for FUZZ_SECONDS over its seed corpus; fails on any crash, leak or timeout.
# usage: FUZZ_SECONDS=60 [FUZZ_JOBS=1] tests/fuzz/run.sh BINDIR CORPUSDIR HARNESS...
#   BINDIR holds fuzz-HARNESS programs (make fuzz builds them); crash inputs and logs are left there.
#   FUZZ_SECONDS=0 only replays the seed corpus (every input once). FUZZ_JOBS runs that many harnesses at once.
set -u
[ $# -ge 3 ] || { echo "usage: $0 BINDIR CORPUSDIR HARNESS..." >&2; exit 2; }
bindir=$1 corpus=$2
shift 2
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
case $seconds in *[!0-9]* | '') echo "FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2 ;; esac
case $jobs in *[!0-9]* | '' | 0) echo "FUZZ_JOBS must be a positive number" >&2; exit 2 ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/azcmk-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# run_one NAME: fuzzes (or replays) one harness; new inputs go to a scratch corpus, the seeds are only read.
run_one() {
	name=$1 log=$bindir/fuzz-$1.log
	[ -d "$corpus/$name" ] || { echo "fuzz $name: no seed corpus $corpus/$name" >"$log"; return 1; }
	mkdir -p "$work/$name"
	if [ "$seconds" -eq 0 ]; then
		set -- -runs=0
	else
		set -- -max_total_time="$seconds"
	fi
	"$bindir/fuzz-$name" "$@" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$bindir/artifact-$name-" "$work/$name" "$corpus/$name" >"$log" 2>&1
}

# report NAME STATUS: one line per harness; the sanitizer's report when it failed.
report() {
	name=$1 log=$bindir/fuzz-$1.log
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	if [ "$2" -eq 0 ]; then
		echo "ok   fuzz-$name: ${runs:-?} runs, coverage ${cov:-?} edges"
		return 0
	fi
	echo "FAIL fuzz-$name (status $2): the input is in $bindir/artifact-$name-*; log $log"
	grep -E 'ERROR|SUMMARY|runtime error|property failed|Assertion|#[0-9]+ 0x' "$log" | head -n 30
	return 1
}

fail=0
while [ $# -gt 0 ]; do
	batch=
	n=0
	while [ $# -gt 0 ] && [ "$n" -lt "$jobs" ]; do
		( run_one "$1"; echo $? >"$work/$1.status" ) &
		batch="$batch $1"
		n=$((n + 1))
		shift
	done
	wait
	for name in $batch; do
		report "$name" "$(cat "$work/$name.status" 2>/dev/null || echo 1)" || fail=$((fail + 1))
	done
done
if [ "$fail" -ne 0 ]; then
	echo "fuzz: $fail harness(es) failed"
elif [ "$seconds" -eq 0 ]; then
	echo "fuzz: every seed input replays clean"
else
	echo "fuzz: all clean (${seconds} s each)"
fi
[ "$fail" -eq 0 ]
