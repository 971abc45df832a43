# lib.sh — what the pinned comparison scripts (serve-cost.sh, engine-cost.sh) share: a
# scratch directory removed on exit together with the server under test, the tool and
# port checks, CPU ticks from /proc and medians. Source it after setting SCRIPT (the name
# used in messages); it sets TMP, TICK and SERVER_PID. Not meant to be run.

TMP=$(mktemp -d)
TICK=$(getconf CLK_TCK)
SERVER_PID=""

# stop_server stops the server started last (SERVER_PID), if any, and waits for it.
stop_server() {
	if [[ -n "$SERVER_PID" ]]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
}
cleanup() { stop_server; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

# need_tools TOOL...: exits 2 naming the first missing one.
need_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$SCRIPT: $tool not found (apt-get install -y wrk curl util-linux)" >&2; exit 2; }
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

# cpu_ticks PID: utime+stime (fields 14, 15) of PID in clock ticks.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# median: the median of the whitespace-separated numbers on stdin.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
