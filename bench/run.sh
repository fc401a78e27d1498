#!/bin/sh
# run.sh - every benchmark of moat against Postfix; writes bench/RESULTS.md.
#
#   ./bench/run.sh [BUILD_DIR]        (make bench: BUILD_DIR=build/release)
#
# Installs what is missing (scripts/deps.sh, then perf and valgrind for the
# profile), raises the file-descriptor limit, runs each benchmark script
# bench/NAME.py --out bench/results (it writes bench/results/NAME.json, and
# may write NAME.md, its own section of the report), then the profile, then
# bench/report.py. A benchmark script that does not exist yet is reported
# as pending. A benchmark that fails (flood.py: a run that was not valid)
# does not stop the others: the report is still written, with its
# evidence, and run.sh exits 1 at the end naming it.
#
# Knobs (environment):
#   BENCH_REPS=3              repetitions at 20 and 100 sessions
#   BENCH_REPS_SINGLE=1       repetitions at 1 session (the slowest runs)
#   BENCH_MESSAGES=20000      messages per throughput run
#   BENCH_POSTFIX_IDLE_MAX=1000  largest idle-session count tried with
#                             Postfix (10000 costs ~4 min and ~12 GB)
#   BENCH_ONLY="throughput latency idle flood traffic signatures store milter profile"
#                             a subset
#   BENCH_TMP=/var/tmp        where servers keep their spools (the disk)
# Traffic stays on 127.0.0.0/8; DNS never reaches the machine's resolver.
set -eu
O=${1:-build/release}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=bench/results
REPS=${BENCH_REPS:-3}
REPS_SINGLE=${BENCH_REPS_SINGLE:-1}
MESSAGES=${BENCH_MESSAGES:-20000}
PF_IDLE_MAX=${BENCH_POSTFIX_IDLE_MAX:-1000}
ONLY=${BENCH_ONLY:-throughput latency idle flood traffic signatures store milter profile}

if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root (the servers bind, then drop privileges)" >&2
	exit 1
fi
./scripts/deps.sh
# The profile's tools, beyond what scripts/deps.sh installs.
missing=""
command -v valgrind >/dev/null || missing="$missing valgrind"
command -v perf >/dev/null || missing="$missing linux-perf"
if [ -n "$missing" ]; then
	echo "bench: installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$missing >/dev/null || echo "bench: could not install$missing" >&2
fi
[ -x "$O/moatd" ] || { echo "bench: no $O/moatd (run make first)" >&2; exit 1; }

# 10,000 idle sessions need 10,000 descriptors in the client and the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

mkdir -p "$OUT"
export BENCH_TMP="${BENCH_TMP:-/var/tmp}"
start=$(date +%s)
python3 bench/report.py --machine "$OUT"

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
failed=""
# bench NAME CMD... - run one benchmark; a failure is noted, not fatal
bench() {
	name=$1
	shift
	"$@" || { echo "bench: $name FAILED (exit $?)" >&2; failed="$failed $name"; }
}

for b in throughput latency idle flood traffic signatures store milter; do
	want "$b" || continue
	script=bench/$b.py
	[ "$b" = store ] && script=bench/store_backends.py
	if [ ! -f "$script" ]; then
		echo "bench: $b: pending ($script does not exist yet)"
		rm -f "$OUT/$b.json" "$OUT/$b.md"
		continue
	fi
	echo "bench: $b"
	case $b in
	throughput)
		bench "$b" python3 bench/throughput.py --out "$OUT" --bin "$O" --reps "$REPS" \
			--reps-single "$REPS_SINGLE" --messages "$MESSAGES" ;;
	latency)
		bench "$b" python3 bench/latency.py --out "$OUT" --bin "$O" --reps "$REPS" ;;
	idle)
		bench "$b" python3 bench/idle.py --out "$OUT" --bin "$O" \
			--postfix-max "$PF_IDLE_MAX" ;;
	traffic)
		# TLS on both hops, large messages, many recipients
		bench "$b" python3 bench/traffic.py --out "$OUT" --bin "$O" --reps "$REPS" ;;
	signatures)
		bench "$b" python3 bench/signatures.py --out "$OUT" --bin "$O" ;;
	store)
		bench "$b" python3 bench/store_backends.py --out "$OUT" --bin "$O" ;;
	milter)
		# rspamd as a milter, in a namespace of its own, for both servers
		bench "$b" python3 bench/milter.py --out "$OUT" --bin "$O" --reps "$REPS" \
			--messages "$MESSAGES" ;;
	*)
		# flood: both mixes (classic; holders on the make run and
		# production configurations)
		bench "$b" python3 "bench/$b.py" --out "$OUT" --bin "$O" ;;
	esac
done

if want profile; then
	echo "bench: profile"
	rm -rf "$OUT/profile"
	bench profile python3 bench/profile.py --out "$OUT" --bin "$O" --messages "$MESSAGES"
fi

python3 bench/report.py --elapsed "$OUT" "$(($(date +%s) - start))"
python3 bench/report.py "$OUT" >bench/RESULTS.md
echo "bench: wrote bench/RESULTS.md ($(($(date +%s) - start)) s)"
if [ -n "$failed" ]; then
	echo "bench: FAILED:$failed (the evidence is in bench/RESULTS.md)" >&2
	exit 1
fi
