#!/usr/bin/env bash
# serve-cost.sh — what does `hotpath serve` cost per request over a bare net/http server?
#
# Servers: `hotpath serve` on its defaults (middleware chain Recover, RequestID, Metrics,
# Shed, Timeout, MaxBytes; limits; admin listener on), the same server package on the same
# defaults from a binary that links nothing else (internal/cmd/serveonly: separates the server's
# cost from the rest of the CLI binary's), and the bare net/http /time server
# (internal/cmd/bare/nethttp). Each is started fresh for each measurement, pinned to CPU 0
# with GOMAXPROCS=1; wrk -t1 -c$CONNS -d$DURATION on CPU 1 loads GET /time (scripts/lib.sh:
# pinning, CPU per request, medians). RUNS interleaved
# rounds (hotpath, bare, hotpath, bare, ...), each after an unmeasured WARMUP (2s) of the same
# load. Reported per server, as medians: requests/s,
# server CPU µs/request = (utime+stime from /proc/PID/stat, fields 14+15, ÷ CLK_TCK) over the
# wrk run ÷ requests served, and idle RSS (VmRSS from /proc/PID/status right after the
# server first answered /time). Targets: CPU ratio hotpath/bare ≤ 1.10, idle RSS ≤ 12 MB.
#
# Both binaries are built with CGO_ENABLED=0, as the Dockerfile builds hotpath: a cgo build
# maps libc and adds ~1.5 MB of RSS to either server.
#
# Usage: scripts/serve-cost.sh              (DURATION=10s WARMUP=2s RUNS=3 CONNS=64 PORT=28080)
#        DURATION=3s RUNS=1 scripts/serve-cost.sh
#        HOTPATH_ARGS="--request-timeout -1s" scripts/serve-cost.sh   (attribute a cost)
#        SPIN=3us scripts/serve-cost.sh   (also runs bare+spin: the bare server plus a calibrated
#                                          3 µs busy loop per request, to see what a known extra
#                                          cost does to the measured figure)
# Needs: go, wrk, taskset, curl. Load goes to 127.0.0.1 only; every process started here is
# stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
RUNS=${RUNS:-3}
CONNS=${CONNS:-64}
PORT=${PORT:-28080}
ADMIN_PORT=$((PORT + 1))
URL="http://127.0.0.1:${PORT}/time"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT=serve-cost
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
need_tools go wrk taskset curl
ports_free "$PORT" "$ADMIN_PORT"

# WAKE-UPS: wrk's voluntary context switches per request, when GNU time is installed
# (apt-get install -y time). They explain most of the run-to-run scatter of the CPU figure:
# a server slower than the generator (~17 µs of wrk CPU per request here) lets wrk go idle,
# and each response that finds it idle pays for waking it (~7 µs of the *server's* CPU on
# this paravirtualised VM, inside the write syscall), so real extra cost is charged about
# twice. docs/serve.md ("Reading the CPU figure") has the measurements.
TIME_WRK=""
if [[ -x /usr/bin/time ]]; then
	TIME_WRK="/usr/bin/time -f %w -o $TMP/wrk.cs"
fi

HOTPATH_ARGS=${HOTPATH_ARGS:-}
(cd "$ROOT" && export CGO_ENABLED=0 && go build -o "$TMP/hotpath" ./cmd/hotpath &&
	go build -o "$TMP/serveonly" ./internal/cmd/serveonly && go build -o "$TMP/bare-nethttp" ./internal/cmd/bare/nethttp)

# start_server NAME: starts the server pinned to CPU 0 and waits until /time answers.
start_server() {
	case $1 in
	hotpath)
		"${PIN_SERVER[@]}" "$TMP/hotpath" serve --addr "127.0.0.1:$PORT" \
			--admin-addr "127.0.0.1:$ADMIN_PORT" $HOTPATH_ARGS 2>"$TMP/hotpath.log" &
		;;
	serveonly)
		"${PIN_SERVER[@]}" "$TMP/serveonly" -addr "127.0.0.1:$PORT" \
			-admin-addr "127.0.0.1:$ADMIN_PORT" 2>"$TMP/serveonly.log" &
		;;
	bare) "${PIN_SERVER[@]}" "$TMP/bare-nethttp" -addr "127.0.0.1:$PORT" &;;
	bare+spin) "${PIN_SERVER[@]}" "$TMP/bare-nethttp" -addr "127.0.0.1:$PORT" -spin "$SPIN" &;;
	esac
	SERVER_PID=$!
	wait_http "$URL" && return 0
	echo "serve-cost: $1 did not start on port $PORT" >&2
	exit 1
}

# measure NAME: prints "requests req/s server_ticks rss_kb anon_kb".
measure() {
	start_server "$1"
	local rss s0 s1 out="$TMP/wrk.out"
	rss=$(rss_kb "$SERVER_PID")
	# Warm-up (not measured): connection set-up, first-request paths and GC sizing.
	"${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"$WARMUP" "$URL" >/dev/null
	s0=$(cpu_ticks "$SERVER_PID")
	# GNU time reports wrk's voluntary context switches (%w): how often the generator
	# went to sleep waiting for responses (see WAKE-UPS above).
	$TIME_WRK "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" "$URL" >"$out"
	s1=$(cpu_ticks "$SERVER_PID")
	stop_server
	if grep -q 'Non-2xx' "$out"; then
		echo "serve-cost: $1 answered non-2xx responses:" >&2
		cat "$out" >&2
		exit 1
	fi
	local cs=-1
	[[ -n "$TIME_WRK" ]] && cs=$(tail -1 "$TMP/wrk.cs")
	awk -v t=$((s1 - s0)) -v rss="$rss" -v cs="$cs" '/requests in/ { n = $1 } /Requests\/sec/ { r = $2 } END { print n, r, t, rss, cs }' "$out"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RPS CPU RSS ANON ROUND WAKE
PAIR_H="" PAIR_O=""
NAMES=(hotpath serveonly bare)
if [[ -n "${SPIN:-}" ]]; then
	NAMES+=(bare+spin)
fi
for run in $(seq "$RUNS"); do
	for name in "${NAMES[@]}"; do
		read -r reqs rps ticks rss anon cs < <(measure "$name")
		us=$(us_per_request "$ticks" "$reqs")
		wk=$(awk -v c="$cs" -v n="$reqs" 'BEGIN { if (c < 0) print "-"; else printf "%.3f", c / n }')
		mb=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
		amb=$(awk -v k="$anon" 'BEGIN { printf "%.1f", k / 1024 }')
		printf 'run %d %-8s %9d requests %9.0f req/s  server %6s µs/req  idle RSS %5s MB (anon %s MB)  wrk wake-ups/req %s\n' \
			"$run" "$name" "$reqs" "$rps" "$us" "$mb" "$amb" "$wk" >&2
		RPS[$name]+="$rps "; CPU[$name]+="$us "; RSS[$name]+="$mb "; ANON[$name]+="$amb "; WAKE[$name]+="$wk "
		ROUND[$name]=$us
		sleep 1
	done
	# Paired ratios of the same round cancel slow drifts in the machine's load.
	PAIR_H+="$(awk -v a="${ROUND[hotpath]}" -v b="${ROUND[bare]}" 'BEGIN { print a / b }') "
	PAIR_O+="$(awk -v a="${ROUND[serveonly]}" -v b="${ROUND[bare]}" 'BEGIN { print a / b }') "
done


echo
echo "| server | median req/s | median server CPU µs/request | median wrk wake-ups/request | median idle RSS (MB) | of which anonymous (MB) | binary size (MB) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for name in "${NAMES[@]}"; do
	bin="$TMP/$name"; [[ $name == bare* ]] && bin="$TMP/bare-nethttp"
	wk="-"; [[ -n "$TIME_WRK" ]] && wk=$(median <<<"${WAKE[$name]}")
	printf '| %s | %.0f | %s | %s | %s | %s | %.1f |\n' "$name" "$(median <<<"${RPS[$name]}")" "$(median <<<"${CPU[$name]}")" "$wk" \
		"$(median <<<"${RSS[$name]}")" "$(median <<<"${ANON[$name]}")" "$(stat -c %s "$bin" | awk '{ print $1 / 1048576 }')"
done
h=$(median <<<"${CPU[hotpath]}"); o=$(median <<<"${CPU[serveonly]}"); b=$(median <<<"${CPU[bare]}")
awk -v h="$h" -v o="$o" -v b="$b" -v ph="$(median <<<"$PAIR_H")" -v po="$(median <<<"$PAIR_O")" 'BEGIN {
	printf "\nCPU per request, ratio of medians: hotpath/bare = %.2fx, serveonly/bare = %.2fx\n", h / b, o / b
	printf "CPU per request, median of per-round ratios: hotpath/bare = %.2fx, serveonly/bare = %.2fx\n", ph, po
	printf "Targets: CPU ratio <= 1.10x; idle RSS <= 12 MB\n"
}'
if [[ -n "${SPIN:-}" ]]; then
	awk -v s="$(median <<<"${CPU[bare+spin]}")" -v b="$b" -v spin="$SPIN" 'BEGIN {
		printf "bare+spin: %s of busy loop per request measured as %+.2f µs of server CPU per request\n", spin, s - b
	}'
fi
echo "(hotpath serve ${HOTPATH_ARGS:-on defaults}; $RUNS interleaved runs, wrk -t1 -c$CONNS -d$DURATION after ${WARMUP} warm-up, on CPU $LOAD_CPU, servers GOMAXPROCS=1 on CPU $SERVER_CPU, $(nproc) CPUs, $(date -u +%Y-%m-%d\ %H:%MZ), load average $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end)"
