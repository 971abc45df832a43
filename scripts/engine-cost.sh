#!/usr/bin/env bash
# engine-cost.sh — what do the fasthttp and nbio engines cost per request over the bare servers
# they are built on, and do they allocate?
#
# Servers (each started fresh per measurement, pinned to CPU 0 with GOMAXPROCS=1, loaded with
# wrk -t1 -c$CONNS -d$DURATION GET /time from CPU 1 after an unmeasured $WARMUP of the same load):
#   hotpath-fasthttp  hotpath serve --engine fasthttp --grpc=false (default chain, limits, admin
#                     listener): the engine alone, as before it could share its port with gRPC
#   hotpath-fasthttp-grpc  the same with serve's default --grpc: the public port is split by portmux
#                     (not in the default set; what the shared port adds per HTTP request)
#   bare-fasthttp-hardened  internal/cmd/bare/fasthttp -hardened: hotpath's default timeouts
#                     and header limit mapped as the engine maps them, nothing else: separates
#                     the chain's cost from the timeouts' (a socket deadline, hence clock
#                     reads, per request)
#   bare-fasthttp     internal/cmd/bare/fasthttp: fasthttp's defaults (no timeouts)
#   hotpath-nbio      hotpath serve --engine nbio
#   bare-nbio         internal/cmd/bare/nbio
#   nginx             1 worker, `return 200`, access log off (only if nginx is installed)
#   hotpath-nethttp, bare-nethttp, bare-nethttp-hardened
#                     the net/http engine and its baselines (not in the default set;
#                     scripts/serve-cost.sh is their comparison)
#   base-fasthttp, base-nbio, base-nethttp
#                     hotpath serve --engine X built from git revision $BASE (not in the
#                     default set): an interleaved A/B of an engine change against the same load
# RUNS interleaved rounds. Reported as medians per server: req/s, server CPU µs/request =
# (utime+stime from /proc/PID/stat, fields 14+15, ÷ CLK_TCK) over the wrk run ÷ requests, and
# for the hotpath engines mallocs/request = growth of go_memstats_mallocs_total on the admin
# /metrics over the wrk run ÷ requests; the growth includes the allocations of the closing
# /metrics scrape itself (a few thousand), so the figure is an upper bound. Because the machine's
# load drifts between rounds, each ratio is also given as the median of the per-round ratios
# (both servers measured back to back in the same round). Idle RSS: VmRSS and RssAnon from
# /proc/PID/status right after the server first answered /time. Targets (issue 16): fasthttp
# engine ≤ 1.00× nginx (ratios against hardened and plain bare fasthttp are reported too), nbio
# engine ≤ 1.2× bare nbio, fasthttp engine ≤ 0.05 mallocs/request, idle RssAnon ≤ 4 MB. Pinning,
# CPU per request, medians and ratios come from scripts/lib.sh.
#
# IDLE_ONLY=1 starts each server RUNS times and reports its idle RSS only (no load): e.g.
#   IDLE_ONLY=1 scripts/engine-cost.sh hotpath-nethttp hotpath-fasthttp-grpc hotpath-nbio
#
# Usage: scripts/engine-cost.sh              (DURATION=10s WARMUP=2s RUNS=3 CONNS=64 PORT=28180)
#        DURATION=3s RUNS=1 scripts/engine-cost.sh hotpath-fasthttp bare-fasthttp-hardened
#        BASE=HEAD~3 scripts/engine-cost.sh hotpath-fasthttp base-fasthttp bare-fasthttp
# Needs: go, wrk, taskset, curl (nginx optional). Load goes to 127.0.0.1 only; every process
# started here is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
RUNS=${RUNS:-3}
CONNS=${CONNS:-64}
PORT=${PORT:-28180}
BASE=${BASE:-}
ADMIN_PORT=$((PORT + 1))
URL="http://127.0.0.1:${PORT}/time"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT=engine-cost
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
need_tools go wrk taskset curl
ports_free "$PORT" "$ADMIN_PORT"

NAMES=("$@")
if [[ ${#NAMES[@]} -eq 0 ]]; then
	NAMES=(hotpath-fasthttp bare-fasthttp-hardened bare-fasthttp hotpath-nbio bare-nbio)
	command -v nginx >/dev/null && NAMES+=(nginx)
fi
for n in "${NAMES[@]}"; do
	case $n in
	hotpath-fasthttp | hotpath-fasthttp-grpc | hotpath-nbio | hotpath-nethttp) ;;
	bare-fasthttp | bare-fasthttp-hardened | bare-nbio | bare-nethttp | bare-nethttp-hardened) ;;
	nginx) command -v nginx >/dev/null || { echo "engine-cost: nginx not installed" >&2; exit 2; } ;;
	base-fasthttp | base-nbio | base-nethttp) [[ -n $BASE ]] || { echo "engine-cost: $n needs BASE=<git revision>" >&2; exit 2; } ;;
	*) echo "engine-cost: unknown server $n" >&2; exit 2 ;;
	esac
done

(
	cd "$ROOT" && export CGO_ENABLED=0
	go build -o "$TMP/hotpath" ./cmd/hotpath
	for b in fasthttp nbio nethttp; do go build -o "$TMP/bare-$b" "./internal/cmd/bare/$b"; done
	if [[ -n $BASE ]]; then
		mkdir -p "$TMP/base"
		git archive "$BASE" | tar -x -C "$TMP/base"
		cd "$TMP/base" && go build -o "$TMP/hotpath-base" ./cmd/hotpath
	fi
)

# start_server NAME: starts the server pinned to CPU 0 and waits until /time answers.
start_server() {
	case $1 in
	hotpath-fasthttp-grpc)
		"${PIN_SERVER[@]}" "$TMP/hotpath" serve --engine fasthttp --addr "127.0.0.1:$PORT" \
			--admin-addr "127.0.0.1:$ADMIN_PORT" 2>"$TMP/hotpath.log" &
		;;
	hotpath-fasthttp)
		"${PIN_SERVER[@]}" "$TMP/hotpath" serve --engine fasthttp --grpc=false --addr "127.0.0.1:$PORT" \
			--admin-addr "127.0.0.1:$ADMIN_PORT" 2>"$TMP/hotpath.log" &
		;;
	hotpath-*)
		"${PIN_SERVER[@]}" "$TMP/hotpath" serve --engine "${1#hotpath-}" --addr "127.0.0.1:$PORT" \
			--admin-addr "127.0.0.1:$ADMIN_PORT" 2>"$TMP/hotpath.log" &
		;;
	base-*)
		"${PIN_SERVER[@]}" "$TMP/hotpath-base" serve --engine "${1#base-}" --addr "127.0.0.1:$PORT" \
			--admin-addr "127.0.0.1:$ADMIN_PORT" 2>"$TMP/hotpath.log" &
		;;
	bare-*-hardened) "${PIN_SERVER[@]}" "$TMP/${1%-hardened}" -hardened -addr "127.0.0.1:$PORT" >/dev/null 2>&1 & ;;
	bare-*) "${PIN_SERVER[@]}" "$TMP/$1" -addr "127.0.0.1:$PORT" >/dev/null 2>&1 & ;;
	nginx)
		nginx_conf "127.0.0.1:$PORT" 1024 1700000000000
		"${PIN_SERVER[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>/dev/null &
		;;
	esac
	SERVER_PID=$!
	wait_http "$URL" && return 0
	echo "engine-cost: $1 did not start on port $PORT" >&2
	cat "$TMP/hotpath.log" >&2 2>/dev/null || true
	exit 1
}

# mallocs NAME: go_memstats_mallocs_total from the admin /metrics, or - for other servers.
mallocs() {
	case $1 in
	hotpath-* | base-*) curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^go_memstats_mallocs_total / { printf "%.0f", $2 }' ;;
	*) echo - ;;
	esac
}

# measure NAME: prints "requests req/s server_ticks mallocs sleeps rss_kb anon_kb"; with
# IDLE_ONLY, "0 0 0 - 0 rss_kb anon_kb".
# sleeps PID: voluntary context switches of all of PID's threads: how often the server went
# idle and had to be woken. A server faster than wrk (~17 µs of wrk CPU per request here) idles
# between requests and pays for each wake-up; docs/serve.md ("Reading the CPU figure") has the
# other side of this effect.
sleeps() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'; }

measure() {
	start_server "$1"
	local s0 s1 m0 m1 w0 w1 rss out="$TMP/wrk.out"
	rss=$(rss_kb "$SERVER_PID")
	if [[ -n ${IDLE_ONLY:-} ]]; then
		stop_server
		echo 0 0 0 - 0 "$rss"
		return
	fi
	"${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"$WARMUP" "$URL" >/dev/null
	mallocs "$1" >/dev/null # the first scrape initialises collectors: not representative
	m0=$(mallocs "$1")
	s0=$(cpu_ticks "$SERVER_PID")
	w0=$(sleeps "$SERVER_PID")
	"${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" "$URL" >"$out"
	s1=$(cpu_ticks "$SERVER_PID")
	w1=$(sleeps "$SERVER_PID")
	m1=$(mallocs "$1")
	stop_server
	if grep -q 'Non-2xx' "$out"; then
		echo "engine-cost: $1 answered non-2xx responses:" >&2
		cat "$out" >&2
		exit 1
	fi
	local dm=-
	[[ $m0 != - ]] && dm=$((m1 - m0))
	awk -v t=$((s1 - s0)) -v dm="$dm" -v w=$((w1 - w0)) -v rss="$rss" '/requests in/ { n = $1 } /Requests\/sec/ { r = $2 } END { print n, r, t, dm, w, rss }' "$out"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RPS CPU MAL ROUND RSS ANON
for run in $(seq "$RUNS"); do
	for name in "${NAMES[@]}"; do
		read -r reqs rps ticks dm wk rss anon < <(measure "$name")
		RSS[$name]+="$(mb "$rss") "; ANON[$name]+="$(mb "$anon") "
		if [[ -n ${IDLE_ONLY:-} ]]; then
			printf 'run %d %-22s idle RSS %5s MB (anon %s MB)\n' "$run" "$name" "$(mb "$rss")" "$(mb "$anon")" >&2
			continue
		fi
		us=$(us_per_request "$ticks" "$reqs")
		mpr=-
		[[ $dm != - ]] && mpr=$(awk -v m="$dm" -v n="$reqs" 'BEGIN { printf "%.4f", m / n }')
		spr=$(awk -v w="$wk" -v n="$reqs" 'BEGIN { printf "%.3f", w / n }')
		printf 'run %d %-22s %9d requests %9.0f req/s  server %6s µs/req  mallocs/req %s  server sleeps/req %s  idle RSS %s MB (anon %s MB)\n' \
			"$run" "$name" "$reqs" "$rps" "$us" "$mpr" "$spr" "$(mb "$rss")" "$(mb "$anon")" >&2
		RPS[$name]+="$rps "; CPU[$name]+="$us "; MAL[$name]+="$mpr "; ROUND[$name,$run]=$us
		sleep 1
	done
done

echo
if [[ -n ${IDLE_ONLY:-} ]]; then
	echo "| server | median idle RSS (MB) (min–max) | of which anonymous (MB) (min–max) |"
	echo "|---|---:|---:|"
	for name in "${NAMES[@]}"; do
		printf '| %s | %s (%s) | %s (%s) |\n' "$name" "$(median <<<"${RSS[$name]}")" "$(spread <<<"${RSS[$name]}")" \
			"$(median <<<"${ANON[$name]}")" "$(spread <<<"${ANON[$name]}")"
	done
	echo "(idle RSS right after the first answer to /time, $RUNS starts each; target RssAnon <= 4 MB; $(date -u +%Y-%m-%d\ %H:%MZ))"
	exit 0
fi
echo "| server | median req/s | median server CPU µs/request (min–max) | median mallocs/request | median idle RSS (MB) | of which anonymous (MB) |"
echo "|---|---:|---:|---:|---:|---:|"
for name in "${NAMES[@]}"; do
	m=-
	[[ ${MAL[$name]} != "- "* ]] && m=$(median <<<"${MAL[$name]}")
	printf '| %s | %.0f | %s (%s) | %s | %s | %s |\n' "$name" "$(median <<<"${RPS[$name]}")" "$(median <<<"${CPU[$name]}")" \
		"$(spread <<<"${CPU[$name]}")" "$m" "$(median <<<"${RSS[$name]}")" "$(median <<<"${ANON[$name]}")"
done
echo
ratio hotpath-fasthttp nginx "fasthttp engine / nginx" " (target <= 1.00x)"
ratio hotpath-fasthttp bare-fasthttp-hardened "fasthttp engine / hardened bare fasthttp" " (the chain alone)"
ratio hotpath-fasthttp bare-fasthttp "fasthttp engine / plain bare fasthttp" ""
ratio bare-fasthttp-hardened bare-fasthttp "hardened / plain bare fasthttp" " (what the timeouts cost)"
ratio bare-fasthttp nginx "plain bare fasthttp / nginx" ""
ratio bare-fasthttp-hardened nginx "hardened bare fasthttp / nginx" ""
ratio hotpath-fasthttp-grpc hotpath-fasthttp "fasthttp engine on a port shared with gRPC / without" ""
ratio hotpath-nbio bare-nbio "nbio engine / bare nbio" " (target <= 1.20x)"
ratio hotpath-nethttp bare-nethttp-hardened "net/http engine / hardened net/http" " (target <= 1.10x)"
ratio hotpath-nethttp bare-nethttp "net/http engine / plain net/http" ""
ratio hotpath-fasthttp base-fasthttp "fasthttp engine / the same at $BASE" ""
ratio hotpath-nbio base-nbio "nbio engine / the same at $BASE" ""
echo "($RUNS interleaved runs, wrk -t1 -c$CONNS -d$DURATION after ${WARMUP} warm-up, on CPU $LOAD_CPU, servers GOMAXPROCS=1 on CPU $SERVER_CPU, $(nproc) CPUs, $(date -u +%Y-%m-%d\ %H:%MZ), load average $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end)"
