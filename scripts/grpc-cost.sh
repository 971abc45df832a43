#!/usr/bin/env bash
# grpc-cost.sh — server CPU per call: bare grpc-go vs hotpath's shared port,
# and the in-process JSON gateway (GET /v1/time) vs native gRPC Now.
#
# Variants (server pinned to CPU 0 with GOMAXPROCS=1, load pinned to CPU 1):
#   bare          grpc-go's own server, no interceptors            (ghz)
#   bare-workers  the same with the stream workers hotpath keeps by
#                 default (grpc.NumStreamWorkers(32)): how much of
#                 hotpath's figure is that one option                (ghz)
#   mux           same bare server behind portmux, shared port     (ghz)
#   hotpath       rpc.New (all interceptors, metrics) + portmux    (ghz)
#   hotpath-noid  hotpath without the x-request-id response header    (ghz)
#   hotpath-json  GET /v1/time through the gateway, same process   (wrk)
#   hotpath-json-h2  the same over h2c, CONNS connections x CONC streams
#                 like ghz's gRPC load (h2load; it reports the mean latency,
#                 shown as p50, and no p99: 0)
#   serve-fasthttp-grpc  the real binary, `hotpath serve --engine fasthttp`
#                 (default flags: every interceptor, a 15 s call timeout,
#                 metrics): gRPC Now on its shared port           (ghz)
#   serve-fasthttp-json  the same process, GET /v1/time: the JSON gateway
#                 on the fasthttp engine and its middleware chain  (wrk)
#   serve-nethttp-grpc, serve-nethttp-json  the same two on the default
#                 engine, `hotpath serve` (net/http)        (ghz, wrk)
#   gateway-proxy the seed's setup: grpc-gateway as a separate proxy process
#                 in front of the bare server, GET /v1/time        (wrk)
#                 CPU is the sum of both processes (both on CPU 0)
# RUNS interleaved rounds (default 3); medians are reported. Key figure:
# server CPU per request = (utime+stime of the server, /proc/PID/stat fields
# 14+15, in clock ticks / CLK_TCK) over the run / requests served. Heap
# allocations per request come from the servers' own counters (SIGUSR1).
#
# Usage: scripts/grpc-cost.sh            env: DUR=10s CONC=50 CONNS=1 RUNS=3 PORT=19090
set -euo pipefail

DUR=${DUR:-10s}
CONC=${CONC:-50}
CONNS=${CONNS:-1}
RUNS=${RUNS:-3}
PORT=${PORT:-19090}
VARIANTS=${VARIANTS:-"bare bare-workers mux hotpath hotpath-noid hotpath-json hotpath-json-h2 serve-fasthttp-grpc serve-fasthttp-json serve-nethttp-grpc serve-nethttp-json gateway-proxy"}
GHZ_VERSION=v0.93.0

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
server_pid=""
proxy_pid=""
cleanup() {
	if [[ -n $proxy_pid ]]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
	if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

need() { command -v "$1" >/dev/null || { echo "grpc-cost: $1 not found: $2" >&2; exit 1; }; }
ghz=$(go env GOPATH)/bin/ghz
if [[ ! -x $ghz ]]; then
	GOFLAGS= go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
fi
if ! command -v wrk >/dev/null && [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq wrk >/dev/null; fi
need wrk "apt-get install -y wrk"
if ! command -v h2load >/dev/null && [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq nghttp2-client >/dev/null; fi
need h2load "apt-get install -y nghttp2-client"
need jq "apt-get install -y jq"
need taskset "util-linux"
need curl "apt-get install -y curl"

go build -o "$tmp/bare-grpc" ./internal/cmd/bare/grpc
go build -o "$tmp/hotpath" ./cmd/hotpath
admin_port=$((PORT + 2))
go build -o "$tmp/gwproxy" ./internal/cmd/gwproxy
tck=$(getconf CLK_TCK)

# cpu_ticks sums utime+stime of the given PIDs.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

wait_port() { # port what
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "grpc-cost: $2 did not start:" >&2; cat "$tmp/server.log" >&2; exit 1
}

start_server() { # variant
	local port=$PORT mode=$1
	case $1 in
	serve-*)
		local engine=${1#serve-}
		engine=${engine%%-*}
		GOMAXPROCS=1 taskset -c 0 "$tmp/hotpath" serve --engine "$engine" --addr "127.0.0.1:$PORT" \
			--admin-addr "127.0.0.1:$admin_port" >"$tmp/server.log" 2>&1 &
		server_pid=$!
		wait_port "$PORT" "hotpath serve"
		wait_port "$admin_port" "hotpath serve's admin listener"
		return
		;;
	hotpath-json | hotpath-json-h2) mode=hotpath ;;
	gateway-proxy) mode=bare; port=$((PORT + 1)) ;;
	esac
	GOMAXPROCS=1 taskset -c 0 "$tmp/bare-grpc" -mode "$mode" -addr "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
	server_pid=$!
	wait_port "$port" "server $mode"
	if [[ $1 == gateway-proxy ]]; then
		GOMAXPROCS=1 taskset -c 0 "$tmp/gwproxy" -addr "127.0.0.1:$PORT" -backend "127.0.0.1:$port" >"$tmp/proxy.log" 2>&1 &
		proxy_pid=$!
		wait_port "$PORT" "grpc-gateway proxy"
	fi
}

pids() { echo "$server_pid" ${proxy_pid:+"$proxy_pid"}; }

# allocs_of PID LOG prints "mallocs bytes": the process prints its cumulative
# heap allocations on SIGUSR1.
allocs_of() {
	local before n
	before=$(grep -c '^allocs ' "$2" || true)
	kill -USR1 "$1"
	for _ in $(seq 200); do
		n=$(grep -c '^allocs ' "$2" || true)
		[[ $n -gt $before ]] && break
		sleep 0.02
	done
	grep '^allocs ' "$2" | tail -1 | awk '{print $2, $3}'
}

# allocs_now sums allocs_of over the server (and the proxy); `hotpath serve`
# reports its counters on the admin /metrics (the scrape's own allocations,
# a few thousand, are included: an upper bound).
allocs_now() {
	if [[ $serve_variant == true ]]; then
		curl -fs "http://127.0.0.1:$admin_port/metrics" |
			awk '/^go_memstats_mallocs_total /{m = $2} /^go_memstats_alloc_bytes_total /{b = $2} END{printf "%.0f %.0f\n", m, b}'
		return
	fi
	{
		allocs_of "$server_pid" "$tmp/server.log"
		if [[ -n $proxy_pid ]]; then allocs_of "$proxy_pid" "$tmp/proxy.log"; fi
	} | awk '{m += $1; b += $2} END {print m, b}'
}

stop_server() {
	if [[ -n $proxy_pid ]]; then kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=""; fi
	kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

ghz_run() { # out.json duration
	taskset -c 1 "$ghz" --insecure --cpus 1 \
		--proto proto/hotpath/v1/time.proto -i proto,proto/third_party,/usr/include \
		--call hotpath.v1.TimeService/Now -d '{}' \
		-c "$CONC" --connections "$CONNS" -z "$2" -O json "127.0.0.1:$PORT" >"$1"
}

wrk_run() { # out.txt duration
	taskset -c 1 wrk -t1 -c "$CONC" -d "$2" --latency "http://127.0.0.1:$PORT/v1/time" >"$1"
}

h2_run() { # out.txt duration
	taskset -c 1 h2load -c "$CONNS" -m "$CONC" -D "${2%s}" "http://127.0.0.1:$PORT/v1/time" >"$1" 2>&1
}

# to_us converts wrk latency strings (123.45us, 1.2ms, 2s) to microseconds.
to_us() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1e6} else print v }'; }

results="$tmp/results.tsv"
: >"$results"
for run in $(seq "$RUNS"); do
	for v in $VARIANTS; do
		start_server "$v"
		json=false serve_variant=false
		[[ $v == hotpath-json || $v == gateway-proxy || $v == serve-*-json ]] && json=true
		[[ $v == serve-* ]] && serve_variant=true
		# Warm-up, not counted: connections, caches and pools.
		if $json; then wrk_run "$tmp/warm" 1s; elif [[ $v == hotpath-json-h2 ]]; then h2_run "$tmp/warm" 1s; else ghz_run "$tmp/warm" 1s; fi
		read -r m0 b0 < <(allocs_now)
		# shellcheck disable=SC2046 # one word per PID
		t0=$(cpu_ticks $(pids))
		if $json; then
			wrk_run "$tmp/out" "$DUR"
			# shellcheck disable=SC2046
			t1=$(cpu_ticks $(pids))
			reqs=$(awk '/requests in/{print $1}' "$tmp/out")
			rps=$(awk '/Requests\/sec/{print $2}' "$tmp/out")
			p50=$(to_us "$(awk '$1=="50%"{print $2}' "$tmp/out")")
			p99=$(to_us "$(awk '$1=="99%"{print $2}' "$tmp/out")")
			errs=$(awk '/Non-2xx|Socket errors/{print}' "$tmp/out" | tr '\n' ' ')
		elif [[ $v == hotpath-json-h2 ]]; then
			h2_run "$tmp/out" "$DUR"
			# shellcheck disable=SC2046
			t1=$(cpu_ticks $(pids))
			reqs=$(awk '/^requests:/{for (i = 1; i < NF; i++) if ($(i+1) ~ /^succeeded/) print $i}' "$tmp/out")
			rps=$(awk '/^finished in/{print $4}' "$tmp/out")
			p50=$(to_us "$(awk '/^time for request:/{print $6}' "$tmp/out")")
			p99=0
			errs=$(awk '/^requests:/{ if ($10 + $12 + 0 > 0) print "failed=" $10, "errored=" $12 }' "$tmp/out")
		else
			ghz_run "$tmp/out" "$DUR"
			# shellcheck disable=SC2046
			t1=$(cpu_ticks $(pids))
			reqs=$(jq '.statusCodeDistribution.OK // 0' "$tmp/out")
			rps=$(jq '.rps' "$tmp/out")
			p50=$(jq '[.latencyDistribution[] | select(.percentage==50) | .latency][0] / 1000' "$tmp/out")
			p99=$(jq '[.latencyDistribution[] | select(.percentage==99) | .latency][0] / 1000' "$tmp/out")
			errs=$(jq -r '.statusCodeDistribution | to_entries | map(select(.key != "OK")) | map("\(.key)=\(.value)") | join(" ")' "$tmp/out")
		fi
		read -r m1 b1 < <(allocs_now)
		stop_server
		apr=$(awk -v d="$((m1 - m0))" -v n="$reqs" 'BEGIN{ printf "%.1f", (n > 0 ? d / n : 0) }')
		bpr=$(awk -v d="$((b1 - b0))" -v n="$reqs" 'BEGIN{ printf "%.0f", (n > 0 ? d / n : 0) }')
		us=$(awk -v t="$((t1 - t0))" -v tck="$tck" -v n="$reqs" 'BEGIN{ printf "%.2f", (n > 0 ? t / tck * 1e6 / n : 0) }')
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$run" "$us" "$rps" "$p50" "$p99" "$reqs" "$apr" "$bpr" >>"$results"
		printf 'run %s %-13s %8s us/req  %10.0f req/s  p50 %8.0f us  p99 %8.0f us  %6s allocs/req %6s B/req  %s\n' "$run" "$v" "$us" "$rps" "$p50" "$p99" "$apr" "$bpr" "${errs:-}" >&2
	done
done

median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
echo
echo "grpc-cost: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, DUR=$DUR CONC=$CONC CONNS=$CONNS RUNS=$RUNS; medians"
printf '%-13s %12s %12s %10s %10s %11s %8s\n' variant "cpu us/req" "req/s" "p50 us" "p99 us" "allocs/req" "B/req"
declare -A med
for v in $VARIANTS; do
	for col in 3 4 5 6 8 9; do
		med[$v,$col]=$(awk -F'\t' -v v="$v" -v c="$col" '$1==v{print $c}' "$results" | median)
	done
	printf '%-13s %12.2f %12.0f %10.0f %10.0f %11.1f %8.0f\n' "$v" "${med[$v,3]}" "${med[$v,4]}" "${med[$v,5]}" "${med[$v,6]}" "${med[$v,8]}" "${med[$v,9]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ printf "%.3f", (b > 0 ? a / b : 0) }'; }
if [[ -n ${med[bare,3]:-} ]]; then
	[[ -n ${med[mux,3]:-} ]] && echo "mux / bare          = $(ratio "${med[mux,3]}" "${med[bare,3]}")  (target <= 1.11)"
	[[ -n ${med[hotpath,3]:-} ]] && echo "hotpath / bare      = $(ratio "${med[hotpath,3]}" "${med[bare,3]}")  (target <= 1.11)"
	[[ -n ${med[bare-workers,3]:-} ]] && echo "bare-workers / bare = $(ratio "${med[bare-workers,3]}" "${med[bare,3]}")"
fi
if [[ -n ${med[hotpath,3]:-} && -n ${med[bare-workers,3]:-} ]]; then
	echo "hotpath / bare-workers = $(ratio "${med[hotpath,3]}" "${med[bare-workers,3]}")  (interceptors, metrics, routing: same workers on both)"
fi
if [[ -n ${med[hotpath,3]:-} && -n ${med[hotpath-json,3]:-} ]]; then
	echo "json / hotpath gRPC = $(ratio "${med[hotpath-json,3]}" "${med[hotpath,3]}")  (target <= 1.3)"
fi
if [[ -n ${med[hotpath,3]:-} && -n ${med[hotpath-json-h2,3]:-} ]]; then
	echo "json h2c / hotpath gRPC = $(ratio "${med[hotpath-json-h2,3]}" "${med[hotpath,3]}")  (same connections x streams as ghz)"
fi
if [[ -n ${med[serve-fasthttp-grpc,3]:-} && -n ${med[serve-fasthttp-json,3]:-} ]]; then
	echo "serve fasthttp: json / gRPC = $(ratio "${med[serve-fasthttp-json,3]}" "${med[serve-fasthttp-grpc,3]}")  (target <= 1.3; the real binary, one process)"
	[[ -n ${med[bare,3]:-} ]] && echo "serve fasthttp: gRPC / bare  = $(ratio "${med[serve-fasthttp-grpc,3]}" "${med[bare,3]}")"
fi
if [[ -n ${med[serve-nethttp-grpc,3]:-} && -n ${med[serve-nethttp-json,3]:-} ]]; then
	echo "serve nethttp: json / gRPC  = $(ratio "${med[serve-nethttp-json,3]}" "${med[serve-nethttp-grpc,3]}")  (target <= 1.3; the default engine)"
	[[ -n ${med[bare,3]:-} ]] && echo "serve nethttp: gRPC / bare   = $(ratio "${med[serve-nethttp-grpc,3]}" "${med[bare,3]}")"
fi
if [[ -n ${med[gateway-proxy,3]:-} && -n ${med[hotpath-json,3]:-} ]]; then
	echo "proxy / in-process  = $(ratio "${med[gateway-proxy,3]}" "${med[hotpath-json,3]}")  (grpc-gateway proxy process vs hotpath's gateway)"
fi
