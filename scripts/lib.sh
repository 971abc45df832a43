# shellcheck shell=bash disable=SC2034 # sourced: the scripts use the variables it sets
# lib.sh — the measuring conventions of scripts/bench-vs-wrk.sh (the server comparisons that
# also used it moved into `hotpath lab`, package lab, which follows the same conventions): how processes are
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

# wait_http URL: waits until URL answers 2xx, for 10 s at most; returns 1 if it never does.
wait_http() {
	local _
	for _ in $(seq 200); do
		curl -fs -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
