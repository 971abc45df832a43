#!/usr/bin/env bash
# conn-memory.sh — resident memory a server spends per idle keep-alive
# connection. For each target: start it pinned to CPU 0 (GOMAXPROCS=1), send a
# few warm-up requests, read VmRSS, then open N connections that each complete
# one GET /time and stay open (internal/cmd/connhold, pinned to CPU 1), wait
# for things to settle and read VmRSS again. Figure = (after - before) / N.
# Runs are interleaved across targets; the median per target is reported
# (pinning, RSS and medians from scripts/lib.sh).
#
# Usage: scripts/conn-memory.sh [-n CONNS] [-r RUNS] [target ...]
# Targets: bare-nethttp bare-fasthttp bare-nbio hotpath-nethttp
#          hotpath-fasthttp hotpath-nbio nginx (default: all that exist)
set -euo pipefail
cd "$(dirname "$0")/.."

N=10000
RUNS=3
SETTLE=${SETTLE:-3}
PORT=${PORT:-18181}
ADMIN_PORT=${ADMIN_PORT:-18182}
while getopts "n:r:h" opt; do
	case $opt in
	n) N=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

# Both the server and connhold need N descriptors plus a few.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((N + 100)) ]; then
	echo "conn-memory: ulimit -n is $(ulimit -n); need at least $((N + 100))" >&2
	exit 2
fi

SCRIPT=conn-memory
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
need_tools go taskset curl

all_targets() {
	local t=(bare-nethttp bare-fasthttp bare-nbio hotpath-nethttp hotpath-fasthttp hotpath-nbio)
	command -v nginx >/dev/null && t+=(nginx)
	echo "${t[@]}"
}
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && read -r -a TARGETS <<<"$(all_targets)"

echo "== building"
export CGO_ENABLED=0 # as the Dockerfile builds hotpath; cgo maps libc into every server
go build -o "$TMP/connhold" ./internal/cmd/connhold
for t in "${TARGETS[@]}"; do
	case $t in
	bare-*) go build -o "$TMP/$t" "./internal/cmd/bare/${t#bare-}" ;;
	hotpath-*) [ -x "$TMP/hotpath" ] || go build -o "$TMP/hotpath" ./cmd/hotpath ;;
	nginx) command -v nginx >/dev/null || { echo "nginx not installed" >&2; exit 2; } ;;
	*) echo "conn-memory: unknown target $t" >&2; exit 2 ;;
	esac
done

# start_server TARGET → sets SERVER_PID
start_server() {
	local t=$1 addr=127.0.0.1:$PORT
	case $t in
	bare-*)
		"${PIN_SERVER[@]}" "$TMP/$t" -addr "$addr" >"$TMP/server.log" 2>&1 &
		;;
	hotpath-*)
		# fasthttp without its gRPC shared port, as measured before it had one
		# (nethttp has always run with it); nbio has none.
		local grpc=()
		[[ $t == hotpath-fasthttp ]] && grpc=(--grpc=false)
		"${PIN_SERVER[@]}" "$TMP/hotpath" serve --engine "${t#hotpath-}" "${grpc[@]}" --addr "$addr" \
			--admin-addr "127.0.0.1:$ADMIN_PORT" --max-connections $((N * 2)) >"$TMP/server.log" 2>&1 &
		;;
	nginx)
		nginx_conf "$addr" $((N * 2)) 0
		"${PIN_SERVER[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/server.log" 2>&1 &
		;;
	esac
	SERVER_PID=$!
	wait_http "http://$addr/time" && return 0
	echo "conn-memory: $t did not answer on $addr:" >&2
	cat "$TMP/server.log" >&2
	exit 1
}

# measure TARGET → prints bytes per connection
measure() {
	local t=$1 before after hold _
	start_server "$t"
	for _ in $(seq 20); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/time"; done
	sleep "$SETTLE"
	read -r before _ < <(rss_kb "$SERVER_PID")
	"${PIN_LOAD[@]}" "$TMP/connhold" -addr "127.0.0.1:$PORT" -n "$N" >"$TMP/hold.out" 2>"$TMP/hold.err" &
	hold=$!
	HELPER_PIDS=("$hold")
	for _ in $(seq 1800); do # up to 3 minutes on a loaded machine
		grep -q '^ready' "$TMP/hold.out" && break
		kill -0 "$hold" 2>/dev/null || { echo "conn-memory: connhold failed against $t: $(cat "$TMP/hold.err")" >&2; exit 1; }
		sleep 0.1
	done
	grep -q '^ready' "$TMP/hold.out" || { echo "conn-memory: connhold timed out against $t" >&2; exit 1; }
	sleep "$SETTLE"
	read -r after _ < <(rss_kb "$SERVER_PID")
	stop_server # connhold, then the server
	echo "$t $before $after $(((after - before) * 1024 / N))" >>"$TMP/results"
	printf '   %-18s rss %7d kB -> %7d kB   %6d B/conn\n' "$t" "$before" "$after" $(((after - before) * 1024 / N))
	sleep 1 # let TIME_WAIT sockets and the port settle
}

echo "== $N idle keep-alive connections, $RUNS interleaved runs, $(nproc) CPUs, $(date -u +%FT%TZ)"
for r in $(seq "$RUNS"); do
	echo "-- run $r"
	for t in "${TARGETS[@]}"; do measure "$t"; done
done

echo "== medians (RSS growth per idle keep-alive connection)"
printf '%-18s %12s %12s %12s\n' target before_kB after_kB bytes/conn
col() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$TMP/results" | median; } # col TARGET FIELD
for t in "${TARGETS[@]}"; do
	printf '%-18s %12.0f %12.0f %12.0f\n' "$t" "$(col "$t" 2)" "$(col "$t" 3)" "$(col "$t" 4)"
done
