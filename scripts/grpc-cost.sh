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
# Pinning, CPU per request and medians come from scripts/lib.sh.
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
SCRIPT=grpc-cost
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

ghz=$(go env GOPATH)/bin/ghz
if [[ ! -x $ghz ]]; then
	GOFLAGS= go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
fi
if ! command -v wrk >/dev/null && [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq wrk >/dev/null; fi
if ! command -v h2load >/dev/null && [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq nghttp2-client >/dev/null; fi
need_tools go wrk h2load jq taskset curl

go build -o "$TMP/bare-grpc" ./internal/cmd/bare/grpc
go build -o "$TMP/hotpath" ./cmd/hotpath
admin_port=$((PORT + 2))
go build -o "$TMP/gwproxy" ./internal/cmd/gwproxy

wait_port() { # port what
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "grpc-cost: $2 did not start:" >&2; cat "$TMP/server.log" >&2; exit 1
}

start_server() { # variant
	local port=$PORT mode=$1
	case $1 in
	serve-*)
		local engine=${1#serve-}
		engine=${engine%%-*}
		"${PIN_SERVER[@]}" "$TMP/hotpath" serve --engine "$engine" --addr "127.0.0.1:$PORT" \
			--admin-addr "127.0.0.1:$admin_port" >"$TMP/server.log" 2>&1 &
		SERVER_PID=$!
		wait_port "$PORT" "hotpath serve"
		wait_port "$admin_port" "hotpath serve's admin listener"
		return
		;;
	hotpath-json | hotpath-json-h2) mode=hotpath ;;
	gateway-proxy) mode=bare; port=$((PORT + 1)) ;;
	esac
	"${PIN_SERVER[@]}" "$TMP/bare-grpc" -mode "$mode" -addr "127.0.0.1:$port" >"$TMP/server.log" 2>&1 &
	SERVER_PID=$!
	wait_port "$port" "server $mode"
	if [[ $1 == gateway-proxy ]]; then
		"${PIN_SERVER[@]}" "$TMP/gwproxy" -addr "127.0.0.1:$PORT" -backend "127.0.0.1:$port" >"$TMP/proxy.log" 2>&1 &
		HELPER_PIDS=($!)
		wait_port "$PORT" "grpc-gateway proxy"
	fi
}

pids() { echo "$SERVER_PID" "${HELPER_PIDS[@]}"; }

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
		allocs_of "$SERVER_PID" "$TMP/server.log"
		local p
		for p in "${HELPER_PIDS[@]}"; do allocs_of "$p" "$TMP/proxy.log"; done
	} | awk '{m += $1; b += $2} END {print m, b}'
}

ghz_run() { # out.json duration
	"${PIN_LOAD[@]}" "$ghz" --insecure --cpus 1 \
		--proto proto/hotpath/v1/time.proto -i proto,proto/third_party,/usr/include \
		--call hotpath.v1.TimeService/Now -d '{}' \
		-c "$CONC" --connections "$CONNS" -z "$2" -O json "127.0.0.1:$PORT" >"$1"
}

wrk_run() { # out.txt duration
	"${PIN_LOAD[@]}" wrk -t1 -c "$CONC" -d "$2" --latency "http://127.0.0.1:$PORT/v1/time" >"$1"
}

h2_run() { # out.txt duration
	"${PIN_LOAD[@]}" h2load -c "$CONNS" -m "$CONC" -D "${2%s}" "http://127.0.0.1:$PORT/v1/time" >"$1" 2>&1
}

# to_us converts wrk latency strings (123.45us, 1.2ms, 2s) to microseconds.
to_us() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1e6} else print v }'; }

results="$TMP/results.tsv"
: >"$results"
for run in $(seq "$RUNS"); do
	for v in $VARIANTS; do
		start_server "$v"
		json=false serve_variant=false
		[[ $v == hotpath-json || $v == gateway-proxy || $v == serve-*-json ]] && json=true
		[[ $v == serve-* ]] && serve_variant=true
		# Warm-up, not counted: connections, caches and pools.
		if $json; then wrk_run "$TMP/warm" 1s; elif [[ $v == hotpath-json-h2 ]]; then h2_run "$TMP/warm" 1s; else ghz_run "$TMP/warm" 1s; fi
		read -r m0 b0 < <(allocs_now)
		# shellcheck disable=SC2046 # one word per PID
		t0=$(cpu_ticks $(pids))
		if $json; then
			wrk_run "$TMP/out" "$DUR"
			# shellcheck disable=SC2046
			t1=$(cpu_ticks $(pids))
			reqs=$(awk '/requests in/{print $1}' "$TMP/out")
			rps=$(awk '/Requests\/sec/{print $2}' "$TMP/out")
			p50=$(to_us "$(awk '$1=="50%"{print $2}' "$TMP/out")")
			p99=$(to_us "$(awk '$1=="99%"{print $2}' "$TMP/out")")
			errs=$(awk '/Non-2xx|Socket errors/{print}' "$TMP/out" | tr '\n' ' ')
		elif [[ $v == hotpath-json-h2 ]]; then
			h2_run "$TMP/out" "$DUR"
			# shellcheck disable=SC2046
			t1=$(cpu_ticks $(pids))
			reqs=$(awk '/^requests:/{for (i = 1; i < NF; i++) if ($(i+1) ~ /^succeeded/) print $i}' "$TMP/out")
			rps=$(awk '/^finished in/{print $4}' "$TMP/out")
			p50=$(to_us "$(awk '/^time for request:/{print $6}' "$TMP/out")")
			p99=0
			errs=$(awk '/^requests:/{ if ($10 + $12 + 0 > 0) print "failed=" $10, "errored=" $12 }' "$TMP/out")
		else
			ghz_run "$TMP/out" "$DUR"
			# shellcheck disable=SC2046
			t1=$(cpu_ticks $(pids))
			reqs=$(jq '.statusCodeDistribution.OK // 0' "$TMP/out")
			rps=$(jq '.rps' "$TMP/out")
			p50=$(jq '[.latencyDistribution[] | select(.percentage==50) | .latency][0] / 1000' "$TMP/out")
			p99=$(jq '[.latencyDistribution[] | select(.percentage==99) | .latency][0] / 1000' "$TMP/out")
			errs=$(jq -r '.statusCodeDistribution | to_entries | map(select(.key != "OK")) | map("\(.key)=\(.value)") | join(" ")' "$TMP/out")
		fi
		read -r m1 b1 < <(allocs_now)
		stop_server
		apr=$(awk -v d="$((m1 - m0))" -v n="$reqs" 'BEGIN{ printf "%.1f", (n > 0 ? d / n : 0) }')
		bpr=$(awk -v d="$((b1 - b0))" -v n="$reqs" 'BEGIN{ printf "%.0f", (n > 0 ? d / n : 0) }')
		us=$(us_per_request "$((t1 - t0))" "$reqs")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$run" "$us" "$rps" "$p50" "$p99" "$reqs" "$apr" "$bpr" >>"$results"
		printf 'run %s %-13s %8s us/req  %10.0f req/s  p50 %8.0f us  p99 %8.0f us  %6s allocs/req %6s B/req  %s\n' "$run" "$v" "$us" "$rps" "$p50" "$p99" "$apr" "$bpr" "${errs:-}" >&2
	done
done

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
