#!/usr/bin/env bash
# bench-vs-wrk.sh — is `hotpath bench` as efficient a load generator as wrk, and ≥ 2× hey?
#
# Target: the bare fasthttp /time server (`hotpath lab-server fasthttp`, package internal/bare:
# the lab's baseline), pinned to CPU 0 with
# GOMAXPROCS=1. Each generator is pinned to CPU 1 and runs -c 64 for DURATION; the three run
# interleaved RUNS times. Reported per generator: median requests/s, median generator CPU
# µs/request (user+sys of the generator process, from its parent's cutime+cstime in
# /proc/PID/stat), and median server CPU µs/request (utime+stime of the server over the run).
# Pinning, CPU per request and medians come from scripts/lib.sh.
#
# Usage: scripts/bench-vs-wrk.sh            (DURATION=10s RUNS=3 CONNS=64 PORT=18080 by default)
#        DURATION=5s RUNS=1 scripts/bench-vs-wrk.sh
#        OPEN_RATES="5000 20000 40000" SKIP_CLOSED=1 DURATION=5s scripts/bench-vs-wrk.sh
# OPEN_RATES adds hotpath open-loop runs (--rate R, same pinning and connections), reporting per
# run the wall time, late sends, corrected and service-time percentiles and generator CPU
# µs/request (docs/bench.md, "Open loop: cost and highest rate"); SKIP_CLOSED=1 skips the
# closed-loop comparison.
# Needs: go, wrk, hey, taskset, jq. Load goes to 127.0.0.1 only; every process started here
# is killed on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
CONNS=${CONNS:-64}
PORT=${PORT:-18080}
URL="http://127.0.0.1:${PORT}/time"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT=bench-vs-wrk
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
need_tools go wrk hey taskset jq curl

(cd "$ROOT" && go build -o "$TMP/hotpath" ./cmd/hotpath)

"${PIN_SERVER[@]}" "$TMP/hotpath" lab-server fasthttp --addr "127.0.0.1:${PORT}" >/dev/null &
SERVER_PID=$!
wait_http "$URL" || { echo "bench-vs-wrk: server did not start on port $PORT" >&2; exit 1; }

# run_gen NAME CMD...: runs CMD pinned to the load CPU in a subshell whose children's CPU
# (children_cpu_ticks) is read after CMD exits: the generator's own CPU. Prints
# "requests rps generator_ticks server_ticks" after parsing the tool's output with parse_NAME.
run_gen() {
	local name=$1; shift
	local s0 s1 out="$TMP/$name.out"
	s0=$(cpu_ticks "$SERVER_PID")
	(
		"${PIN_LOAD[@]}" "$@" >"$out" 2>&1
		children_cpu_ticks "$BASHPID" >"$out.cpu"
	)
	s1=$(cpu_ticks "$SERVER_PID")
	local reqs rps
	read -r reqs rps < <("parse_$name" "$out")
	echo "$reqs $rps $(cat "$out.cpu") $((s1 - s0))"
}

parse_hotpath() { jq -r '"\(.requests) \(.rps)"' "$1"; }
parse_wrk() {
	awk '/requests in/ { n = $1 } /Requests\/sec/ { r = $2 } END { print n, r }' "$1"
}
parse_hey() {
	# hey prints "[200]	N responses" per status; count every response.
	awk '/^  \[[0-9]+\]/ { n += $2 } /Requests\/sec/ { r = $2 } END { print n, r }' "$1"
}

OPEN_RATES=${OPEN_RATES:-}
SKIP_CLOSED=${SKIP_CLOSED:-}
if [[ -n "$OPEN_RATES" ]]; then
	echo "open loop: hotpath bench --rate R -c $CONNS -d $DURATION (generator on CPU 1, server on CPU 0)"
	"${PIN_LOAD[@]}" "$TMP/hotpath" bench -c "$CONNS" -d 1s -o json "$URL" > /dev/null 2>&1 # warm the server up
	for run in $(seq "$RUNS"); do
		for rate in $OPEN_RATES; do
			t0=$(date +%s.%N)
			"${PIN_LOAD[@]}" "$TMP/hotpath" bench --rate "$rate" -c "$CONNS" -d "$DURATION" -o json "$URL" > "$TMP/open.json" 2>/dev/null
			t1=$(date +%s.%N)
			jq -r --arg run "$run" --arg rate "$rate" --arg wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
				'"run \($run) rate \($rate): \(.requests) requests in \($wall) s wall, late \(.late_sends), latency p50/p99 \(.latency_us.p50)/\(.latency_us.p99) µs, service p50 \(.service_time_us.p50) µs, generator \(.generator.cpu_us_per_request) µs/req"' \
				"$TMP/open.json"
			sleep 1
		done
	done
	echo "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
fi
[[ -n "$SKIP_CLOSED" ]] && exit 0

declare -A RPS GEN SRV
for run in $(seq "$RUNS"); do
	for name in hotpath wrk hey; do
		case $name in
		hotpath) line=$(run_gen hotpath "$TMP/hotpath" bench -c "$CONNS" -d "$DURATION" -o json "$URL") ;;
		wrk) line=$(run_gen wrk wrk -t1 -c"$CONNS" -d"$DURATION" "$URL") ;;
		hey) line=$(run_gen hey hey -c "$CONNS" -z "$DURATION" "$URL") ;;
		esac
		read -r reqs rps gticks sticks <<<"$line"
		gus=$(us_per_request "$gticks" "$reqs")
		sus=$(us_per_request "$sticks" "$reqs")
		printf 'run %d %-8s %9d requests %10.0f req/s  generator %6s µs/req  server %6s µs/req\n' \
			"$run" "$name" "$reqs" "$rps" "$gus" "$sus"
		RPS[$name]+="$rps "; GEN[$name]+="$gus "; SRV[$name]+="$sus "
		sleep 1
	done
done

echo
printf '%-8s %12s %22s %20s\n' generator "median req/s" "generator µs/request" "server µs/request"
for name in hotpath wrk hey; do
	printf '%-8s %12.0f %22s %20s\n' "$name" "$(median <<<"${RPS[$name]}")" "$(median <<<"${GEN[$name]}")" "$(median <<<"${SRV[$name]}")"
done
h=$(median <<<"${RPS[hotpath]}"); w=$(median <<<"${RPS[wrk]}"); y=$(median <<<"${RPS[hey]}")
awk -v h="$h" -v w="$w" -v y="$y" 'BEGIN { printf "\nhotpath/wrk = %.2fx   hotpath/hey = %.2fx   (target: >= 1.00x and >= 2.00x)\n", h / w, h / y }'
