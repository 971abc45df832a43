#!/usr/bin/env bash
# Fails (exit 1) when the committed generated Go under proto/ differs from what
# scripts/gen-proto.sh produces from the .proto sources with the pinned tools.
# Installs its own tools (go install …@version, apt-get protobuf-compiler).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OUT="$tmp" scripts/gen-proto.sh
status=0
while IFS= read -r f; do
	rel=${f#"$tmp"/}
	if ! diff -u "$rel" "$f" >/dev/null 2>&1; then
		echo "check-generated: $rel is stale; run scripts/gen-proto.sh and commit" >&2
		status=1
	fi
done < <(find "$tmp" -name '*.go' -type f)
# A committed generated file with no source any more is stale too.
while IFS= read -r f; do
	[[ -f "$tmp/$f" ]] || { echo "check-generated: $f has no .proto source; delete it" >&2; status=1; }
done < <(find proto internal/cmd/gwproxy/hotpathv1 -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' \))
[[ $status -eq 0 ]] && echo "check-generated: generated code is up to date"
exit $status
