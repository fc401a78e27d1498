#!/bin/sh
# run.sh - run every test: unit (cmocka), fuzz (short libFuzzer runs), and
# end-to-end (real moatd, real clients and servers, loopback only).
# Ends with one summary line; exits non-zero if anything failed.
#
#   tests/run.sh [BUILD_DIR]          (default build/asan)
#   E2E=test_core tests/run.sh        only e2e modules matching the pattern
set -u
cd "$(dirname "$0")/.."
B=${1:-build/asan}
export MOAT_BIN="$PWD/$B"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

unit_pass=0 unit_fail=0 fuzz_pass=0 fuzz_fail=0
failed=""

echo "== unit tests"
for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	if "$t"; then
		unit_pass=$((unit_pass + 1))
	else
		unit_fail=$((unit_fail + 1))
		failed="$failed $(basename "$t")"
	fi
done

echo "== fuzz (short runs)"
for f in build/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	corpus="tests/fuzz/corpus/${name#fuzz_}"
	work=$(mktemp -d)
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
	if "$f" -max_total_time="${FUZZ_SECONDS:-15}" -timeout=5 -rss_limit_mb=2048 \
		"$work" >"$work.log" 2>&1; then
		fuzz_pass=$((fuzz_pass + 1))
		# libFuzzer writes "#N<TAB>DONE": a space alone matched nothing
		echo "$name: $(grep -Eo '#[0-9]+[[:space:]]+DONE.*' "$work.log" | tail -1)"
	else
		fuzz_fail=$((fuzz_fail + 1))
		failed="$failed $name"
		tail -40 "$work.log"
	fi
	rm -rf "$work" "$work.log"
done

e2e_ran=0 e2e_bad=0
# e2e PATTERN [ENV=VALUE...] - a unittest run of tests/e2e, added to the totals
e2e() {
	e2e_log=$(mktemp)
	p=$1
	shift
	# sh has no pipefail: the status comes back through a file, not from tee
	{ env "$@" python3 -m unittest discover -s tests/e2e -t tests/e2e -p "$p" -v 2>&1
	  echo $? >"$e2e_log.rc"; } | tee "$e2e_log"
	rc=$(cat "$e2e_log.rc" 2>/dev/null || echo 1)
	ran=$(grep -Eo '^Ran [0-9]+' "$e2e_log" | grep -Eo '[0-9]+' || echo 0)
	bad=$(grep -E '^FAILED \(' "$e2e_log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
	[ -n "$bad" ] || bad=0
	[ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
	e2e_ran=$((e2e_ran + ran))
	e2e_bad=$((e2e_bad + bad))
	rm -f "$e2e_log" "$e2e_log.rc"
}

echo "== end-to-end tests"
e2e "test_${E2E:-}*.py"
# the screening, control and bait suites once more, their state store on
# Redis (issue 23)
for t in screening control bait; do
	if [ -z "${E2E:-}" ] || [ "${E2E}" = "$t" ]; then
		echo "== end-to-end tests: $t on the Redis store"
		e2e "test_$t.py" MOAT_STORE=redis
	fi
done

echo
echo "SUMMARY: unit $unit_pass passed $unit_fail failed; fuzz $fuzz_pass passed $fuzz_fail failed; e2e $((e2e_ran - e2e_bad)) passed $e2e_bad failed${failed:+; failed:$failed}"
[ "$unit_fail" -eq 0 ] && [ "$fuzz_fail" -eq 0 ] && [ "$e2e_bad" -eq 0 ]
