#!/usr/bin/env bash
# long.sh - a fuzzing campaign: every libFuzzer target of build/fuzz/ for
# FUZZ_SECONDS, then a table of what each did. `make fuzz-long` builds the
# targets and runs this.
#
#   tests/fuzz/long.sh [NAME...]      (default: every build/fuzz/fuzz_NAME)
#
#   FUZZ_SECONDS  CPU seconds per target (1800): libFuzzer's -max_total_time
#                 is wall time, so a target whose run got less CPU than this
#                 (a busy machine) runs again, from its corpus, for the rest
#   FUZZ_JOBS     targets at a time (1); each is one process on one core
#   FUZZ_OUT      scratch directory (build/fuzz-long/DATE-TIME)
#
# Each target starts from its committed corpus, tests/fuzz/corpus/NAME/,
# which is only read: what the run finds goes to FUZZ_OUT/NAME/corpus/, the
# inputs that failed (crash-*, leak-*, timeout-*, oom-*) to
# FUZZ_OUT/NAME/artifacts/, libFuzzer's output to FUZZ_OUT/NAME/log. The
# binaries are copied to FUZZ_OUT/bin/ first, so that a rebuild while the
# campaign runs changes nothing under it. A target that fails does not stop
# the others; the script then exits 1. The table goes to stdout and to
# FUZZ_OUT/summary.txt; coverage is libFuzzer's last cov: and ft: figures.
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.."

SECS=${FUZZ_SECONDS:-1800}
JOBS=${FUZZ_JOBS:-1}
OUT=${FUZZ_OUT:-build/fuzz-long/$(date +%Y%m%d-%H%M%S)}
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

case "$SECS$JOBS" in *[!0-9]*)
	echo "long.sh: FUZZ_SECONDS and FUZZ_JOBS are whole numbers" >&2
	exit 2
	;;
esac
[ "$JOBS" -ge 1 ] || JOBS=1

if [ $# -gt 0 ]; then
	names="$*"
else
	names=$(for f in build/fuzz/fuzz_*; do [ -x "$f" ] && echo "${f#build/fuzz/fuzz_}"; done)
fi
[ -n "$names" ] || { echo "long.sh: no fuzz targets; run make fuzz" >&2; exit 2; }

mkdir -p "$OUT/bin" || exit 2
for n in $names; do
	cp "build/fuzz/fuzz_$n" "$OUT/bin/" || exit 2
done

note() {
	echo "[$(date +%H:%M:%S)] $*"
}

# run_one NAME - one target until it has had SECS of CPU (at most 10 runs,
# each from the corpus the ones before grew); leaves log, time (a line a
# run) and rc in OUT/NAME
run_one() {
	local n=$1 d="$OUT/$1" cpu=0 left=$SECS pass=0

	mkdir -p "$d/corpus" "$d/artifacts"
	: >"$d/log"
	: >"$d/time"
	note "$n: start, $SECS CPU-s"
	TIMEFORMAT='%R %U %S'
	while :; do
		pass=$((pass + 1))
		{ time "$OUT/bin/fuzz_$n" -max_total_time="$left" -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$d/artifacts/" \
			"$d/corpus" "tests/fuzz/corpus/$n" >>"$d/log" 2>&1
		  echo $? >"$d/rc"; } 2>>"$d/time"
		cpu=$(awk '{c += $2 + $3} END {printf "%d", c}' "$d/time")
		[ "$(cat "$d/rc")" -eq 0 ] || break
		[ "$(find "$d/artifacts" -type f | wc -l)" -eq 0 ] || break
		[ "$cpu" -lt "$SECS" ] && [ "$pass" -lt 10 ] || break
		left=$((SECS - cpu))
		[ "$left" -ge 30 ] || left=30
	done
	note "$n: $(row "$n")"
}

# row NAME - status, seconds, CPU-seconds, executions, cov, ft, new, crashes
row() {
	local d="$OUT/$1" rc real user sys execs cov ft new crashes status

	rc=$(cat "$d/rc" 2>/dev/null || echo 1)
	# every run's line summed
	read -r real user sys < <(awk '{r += $1; u += $2; s += $3} END {print r + 0, u + 0, s + 0}' \
		"$d/time" 2>/dev/null) || real=0 user=0 sys=0
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" |
		awk '{e += $1} END {if (NR) print e}')
	[ -n "$execs" ] || execs=$(grep -Eo '^#[0-9]+' "$d/log" | tail -1 | tr -d '#')
	cov=$(grep -Eo ' cov: [0-9]+ ft: [0-9]+' "$d/log" | tail -1)
	ft=${cov##* }
	cov=${cov#* cov: }
	cov=${cov%% *}
	new=$(find "$d/corpus" -type f | wc -l)
	crashes=$(find "$d/artifacts" -type f | wc -l)
	if [ "$crashes" -gt 0 ]; then
		status=CRASH
	elif [ "$rc" -ne 0 ]; then
		status="FAIL($rc)"
	else
		status=ok
	fi
	printf '%-9s %-8s %7.0f %7.0f %12s %6s %7s %6s %7s\n' "$1" "$status" "$real" \
		"$(echo "$user $sys" | awk '{print $1 + $2}')" "${execs:-0}" "${cov:--}" \
		"${ft:--}" "$new" "$crashes"
}

# Children end with the script (an interrupted campaign leaves no fuzzer).
trap 'kill $(jobs -p) 2>/dev/null; exit 130' INT TERM

note "campaign: $(echo $names | wc -w) targets, $SECS CPU-s each, $JOBS at a time, in $OUT"
for n in $names; do
	if [ "$JOBS" -eq 1 ]; then
		run_one "$n"
		continue
	fi
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n
	done
	run_one "$n" &
done
wait

failed=0
{
	printf '%-9s %-8s %7s %7s %12s %6s %7s %6s %7s\n' target status seconds cpu-s \
		executions cov ft new crashes
	for n in $names; do
		row "$n"
	done
} | tee "$OUT/summary.txt"
for n in $names; do
	r=$(row "$n")
	case "$r" in
	*" ok "*) ;;
	*)
		failed=1
		echo "$n: see $OUT/$n/log$(find "$OUT/$n/artifacts" -type f -printf ' %p')"
		;;
	esac
done
exit $failed
