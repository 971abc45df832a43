# shellcheck shell=bash disable=SC2034 # sourced: the scripts use the variables it sets
# lib.sh — the one place the comparison scripts (serve-cost.sh, engine-cost.sh, grpc-cost.sh,
# bench-vs-wrk.sh) take their measuring conventions from: how processes are
# pinned, how CPU per request is read from /proc, how medians are taken, the tool checks, and a
# scratch directory removed on exit together with every process the script started. The Go
# side, `hotpath bench --server-pid` (loadgen/procstat.go), reads the same /proc fields the same
# way, so the figures compare.
#
# Source it after setting SCRIPT (the name used in messages). It sets TMP, TICK, SERVER_PID,
# HELPER_PIDS, PIN_SERVER and PIN_LOAD. Not meant to be run.

TMP=$(mktemp -d)
TICK=$(getconf CLK_TCK) # USER_HZ: the unit of the /proc/PID/stat times
SERVER_PID=""           # the server under test; set it right after starting one with &
HELPER_PIDS=()          # other processes to stop with it: a proxy, a connection holder

# Pinning: the server under test runs on CPU $SERVER_CPU with GOMAXPROCS=1, the load generator
# on CPU $LOAD_CPU, so that neither takes the other's CPU. Use them as command prefixes,
# "${PIN_SERVER[@]}" ./server ... &: env and taskset exec the command, so $! is its PID.
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PIN_SERVER=(env GOMAXPROCS=1 taskset -c "$SERVER_CPU")
PIN_LOAD=(taskset -c "$LOAD_CPU")

# stop_pid PID: stops PID (SIGTERM) and waits for it; quiet if it has gone already.
stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# stop_server stops the HELPER_PIDS, then the server (SERVER_PID), and forgets them.
stop_server() {
	local p
	for p in "${HELPER_PIDS[@]}"; do stop_pid "$p"; done
	HELPER_PIDS=()
	if [[ -n "$SERVER_PID" ]]; then
		stop_pid "$SERVER_PID"
		SERVER_PID=""
	fi
}
cleanup() { stop_server; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

# need_tools TOOL...: exits 2 naming the first missing one and the Debian package that has it.
need_tools() {
	local tool pkg
	for tool in "$@"; do
		command -v "$tool" >/dev/null && continue
		case $tool in
		taskset) pkg=util-linux ;;
		h2load) pkg=nghttp2-client ;;
		go) pkg="Go (https://go.dev/dl)" ;;
		*) pkg=$tool ;;
		esac
		echo "$SCRIPT: $tool not found (apt-get install -y $pkg)" >&2
		exit 2
	done
}

# ports_free PORT...: exits 2 if something already answers on one of them.
ports_free() {
	local p
	for p in "$@"; do
		if curl -s -o /dev/null "http://127.0.0.1:$p/"; then
			echo "$SCRIPT: port $p is already in use; set PORT=" >&2
			exit 2
		fi
	done
}

# stat_ticks PID FIRST: the sum of /proc/PID/stat fields FIRST and FIRST+1, in clock ticks.
# Fields are counted from the last ')', as the command name may hold spaces and parentheses.
stat_ticks() { awk -v f="$2" '{ sub(/.*\) /, ""); print $(f - 2) + $(f - 1) }' "/proc/$1/stat"; }

# cpu_ticks PID...: utime+stime (fields 14, 15) of the PIDs, summed, in clock ticks.
cpu_ticks() {
	local p t=0
	for p in "$@"; do t=$((t + $(stat_ticks "$p" 14))); done
	echo "$t"
}

# children_cpu_ticks PID: cutime+cstime (fields 16, 17) of PID: the CPU of its children that
# have exited and been waited for, in clock ticks.
children_cpu_ticks() { stat_ticks "$1" 16; }

# us_per_request TICKS REQUESTS: CPU µs per request (%.2f) for TICKS clock ticks spent serving
# REQUESTS requests; 0 when there were none.
us_per_request() { awk -v t="$1" -v n="$2" -v hz="$TICK" 'BEGIN { printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0) }'; }

# median: the median of the numbers on stdin, separated by spaces or newlines (the mean of the
# middle two for an even count).
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

# rss_kb PID: "VmRSS RssAnon" of PID in kB. RssAnon is the private heap, stacks and data; the
# rest of VmRSS is pages of the binary (and libc, if any), shared through the page cache.
rss_kb() { awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { print r, a }' "/proc/$1/status"; }

# wait_http URL: waits until URL answers 2xx, for 10 s at most; returns 1 if it never does.
wait_http() {
	local _
	for _ in $(seq 200); do
		curl -fs -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# nginx_conf ADDR CONNS BODY: writes $TMP/nginx/nginx.conf, the reference nginx: one process
# (no master), on ADDR, room for CONNS connections, answering every request 200 BODY
# (text/plain) without logging. Start it with nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf".
nginx_conf() {
	mkdir -p "$TMP/nginx"
	cat >"$TMP/nginx/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile $(($2 + 100));
error_log $TMP/nginx/error.log;
pid $TMP/nginx/nginx.pid;
events { worker_connections $(($2 + 100)); }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx;
    proxy_temp_path $TMP/nginx;
    fastcgi_temp_path $TMP/nginx;
    uwsgi_temp_path $TMP/nginx;
    scgi_temp_path $TMP/nginx;
    server {
        listen $1;
        location / { default_type text/plain; return 200 "$3"; }
    }
}
NGINX
}

# ratio A B LABEL SUFFIX: prints "CPU per request, LABEL = X.XXx (per-round median Y.YYx)SUFFIX",
# the ratio of A's and B's median CPU per request, then the median of the per-round ratios (A
# and B measured back to back in the same round, which cancels slow drifts of the machine's
# load). Reads the caller's CPU[NAME] (the figures, space-separated), ROUND[NAME,RUN] (one per
# round) and RUNS; prints nothing unless both A and B were measured.
ratio() {
	if [[ -n ${CPU[$1]:-} && -n ${CPU[$2]:-} ]]; then
		local per="" r
		for r in $(seq "$RUNS"); do
			per+="$(awk -v a="${ROUND[$1,$r]}" -v b="${ROUND[$2,$r]}" 'BEGIN { printf "%.4f", a / b }') "
		done
		awk -v a="$(median <<<"${CPU[$1]}")" -v b="$(median <<<"${CPU[$2]}")" -v p="$(median <<<"$per")" -v l="$3" -v t="$4" \
			'BEGIN { printf "CPU per request, %s = %.2fx (per-round median %.2fx)%s\n", l, a / b, p, t }'
	fi
}

# mb KB: KB kilobytes in MB, %.1f.
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# spread: "min–max" of the numbers on stdin, separated by spaces or newlines.
spread() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { print a "–" b }'; }
