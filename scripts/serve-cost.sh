#!/usr/bin/env bash
# serve-cost.sh — what does `hotpath serve` cost per request over a bare net/http server?
#
# Servers (each started fresh for each measurement):
#   hotpath         `hotpath serve` on its defaults (net/http engine, gRPC sharing the port,
#                   middleware chain Recover, RequestID, Metrics, Shed, Timeout, MaxBytes; limits;
#                   admin listener on)
#   hotpath-nogrpc  the same with --grpc=false
#   serveonly       the server package on the same defaults from a binary that links nothing else
#                   (internal/cmd/serveonly: separates the server's cost from the CLI binary's)
#   bare-hardened   internal/cmd/bare/nethttp -hardened: http.Server with hotpath's default
#                   timeouts and 16 KiB header limit, a ServeMux and /time, nothing else
#   bare            internal/cmd/bare/nethttp: the same on net/http's defaults (no timeouts)
#   bare+spin       bare plus a calibrated busy loop per request (only with SPIN=)
# Each is pinned to CPU 0 with GOMAXPROCS=1; wrk -t1 -c$CONNS -d$DURATION on CPU 1 loads GET
# /time (scripts/lib.sh: pinning, CPU per request, medians, ratios). RUNS interleaved rounds
# (hotpath, ..., bare, hotpath, ...), each after an unmeasured WARMUP (2s) of the same load.
# Reported per server, as medians: requests/s, server CPU µs/request = (utime+stime from
# /proc/PID/stat, fields 14+15, ÷ CLK_TCK) over the wrk run ÷ requests served, and idle RSS
# (VmRSS and RssAnon from /proc/PID/status right after the server first answered /time).
# Targets (issue 16): CPU hotpath/bare-hardened ≤ 1.10 (hotpath/bare is reported too); idle
# anonymous RSS (RssAnon) ≤ 4 MB, total RSS beside it.
#
# All binaries are built with CGO_ENABLED=0, as the Dockerfile builds hotpath: a cgo build
# maps libc and adds ~1.5 MB of RSS to either server.
#
# Usage: scripts/serve-cost.sh              (DURATION=10s WARMUP=2s RUNS=3 CONNS=64 PORT=28080)
#        DURATION=3s RUNS=1 scripts/serve-cost.sh hotpath bare-hardened   (a subset)
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
	hotpath-nogrpc)
		"${PIN_SERVER[@]}" "$TMP/hotpath" serve --grpc=false --addr "127.0.0.1:$PORT" \
			--admin-addr "127.0.0.1:$ADMIN_PORT" $HOTPATH_ARGS 2>"$TMP/hotpath.log" &
		;;
	bare) "${PIN_SERVER[@]}" "$TMP/bare-nethttp" -addr "127.0.0.1:$PORT" &;;
	bare-hardened) "${PIN_SERVER[@]}" "$TMP/bare-nethttp" -hardened -addr "127.0.0.1:$PORT" &;;
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
NAMES=("$@")
if [[ ${#NAMES[@]} -eq 0 ]]; then
	NAMES=(hotpath hotpath-nogrpc serveonly bare-hardened bare)
	[[ -n "${SPIN:-}" ]] && NAMES+=(bare+spin)
fi
for n in "${NAMES[@]}"; do
	case $n in
	hotpath | hotpath-nogrpc | serveonly | bare | bare-hardened) ;;
	bare+spin) [[ -n "${SPIN:-}" ]] || { echo "serve-cost: bare+spin needs SPIN=<duration>" >&2; exit 2; } ;;
	*) echo "serve-cost: unknown server $n" >&2; exit 2 ;;
	esac
done
for run in $(seq "$RUNS"); do
	for name in "${NAMES[@]}"; do
		read -r reqs rps ticks rss anon cs < <(measure "$name")
		us=$(us_per_request "$ticks" "$reqs")
		wk=$(awk -v c="$cs" -v n="$reqs" 'BEGIN { if (c < 0) print "-"; else printf "%.3f", c / n }')
		printf 'run %d %-14s %9d requests %9.0f req/s  server %6s µs/req  idle RSS %5s MB (anon %s MB)  wrk wake-ups/req %s\n' \
			"$run" "$name" "$reqs" "$rps" "$us" "$(mb "$rss")" "$(mb "$anon")" "$wk" >&2
		RPS[$name]+="$rps "; CPU[$name]+="$us "; RSS[$name]+="$(mb "$rss") "; ANON[$name]+="$(mb "$anon") "; WAKE[$name]+="$wk "
		ROUND[$name,$run]=$us
		sleep 1
	done
done

echo
echo "| server | median req/s | median server CPU µs/request (min–max) | median wrk wake-ups/request | median idle RSS (MB) | of which anonymous (MB) | binary size (MB) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for name in "${NAMES[@]}"; do
	bin="$TMP/$name"; [[ $name == bare* ]] && bin="$TMP/bare-nethttp"; [[ $name == hotpath* ]] && bin="$TMP/hotpath"
	wk="-"; [[ -n "$TIME_WRK" ]] && wk=$(median <<<"${WAKE[$name]}")
	spread=$(spread <<<"${CPU[$name]}")
	printf '| %s | %.0f | %s (%s) | %s | %s | %s | %.1f |\n' "$name" "$(median <<<"${RPS[$name]}")" "$(median <<<"${CPU[$name]}")" "$spread" "$wk" \
		"$(median <<<"${RSS[$name]}")" "$(median <<<"${ANON[$name]}")" "$(stat -c %s "$bin" | awk '{ print $1 / 1048576 }')"
done
echo
ratio hotpath bare-hardened "hotpath / hardened net/http" " (target <= 1.10x)"
ratio hotpath-nogrpc bare-hardened "hotpath --grpc=false / hardened net/http" ""
ratio serveonly bare-hardened "serveonly / hardened net/http" ""
ratio hotpath bare "hotpath / plain net/http" ""
ratio hotpath-nogrpc bare "hotpath --grpc=false / plain net/http" ""
ratio bare-hardened bare "hardened / plain net/http" " (what the timeouts cost)"
echo "Targets: CPU hotpath / hardened net/http <= 1.10x; idle RssAnon <= 4 MB"
if [[ -n ${CPU[bare+spin]:-} ]]; then
	awk -v s="$(median <<<"${CPU[bare+spin]}")" -v b="$(median <<<"${CPU[bare]}")" -v spin="$SPIN" 'BEGIN {
		printf "bare+spin: %s of busy loop per request measured as %+.2f µs of server CPU per request\n", spin, s - b
	}'
fi
echo "(hotpath serve ${HOTPATH_ARGS:-on defaults}; $RUNS interleaved runs, wrk -t1 -c$CONNS -d$DURATION after ${WARMUP} warm-up, on CPU $LOAD_CPU, servers GOMAXPROCS=1 on CPU $SERVER_CPU, $(nproc) CPUs, $(date -u +%Y-%m-%d\ %H:%MZ), load average $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end)"
