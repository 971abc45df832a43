#!/usr/bin/env bash
# Regenerates the committed Go code under proto/ from the .proto sources.
# Pinned generators: protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.6.1,
# protoc-gen-grpc-gateway v2.33.0 (internal/cmd/gwproxy only), and
# protoc from Debian's protobuf-compiler package (libprotoc 3.21.12 here).
# Usage: scripts/gen-proto.sh            (run from anywhere in the repo)
#        OUT=/some/dir scripts/gen-proto.sh   writes the tree under OUT instead
#        (scripts/check-generated.sh uses it to diff against the committed code).
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.1
# Only for the measurement helper internal/cmd/gwproxy (grpc-gateway as a proxy and in process).
PROTOC_GEN_GRPC_GATEWAY_VERSION=v2.33.0

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

gobin=$(go env GOPATH)/bin
need_install() { # name version-string-expected
	local bin="$gobin/$1"
	[[ -x $bin ]] || return 0
	"$bin" --version 2>/dev/null | grep -q -- "${2#v}" && return 1 || return 0
}
if need_install protoc-gen-go "$PROTOC_GEN_GO_VERSION"; then
	GOFLAGS= go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if need_install protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"; then
	GOFLAGS= go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi
if need_install protoc-gen-grpc-gateway "$PROTOC_GEN_GRPC_GATEWAY_VERSION"; then
	GOFLAGS= go install "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$PROTOC_GEN_GRPC_GATEWAY_VERSION"
fi
if ! command -v protoc >/dev/null; then
	if [[ $(id -u) -eq 0 ]]; then
		apt-get install -y -qq protobuf-compiler >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null; }
	else
		echo "gen-proto: protoc missing: install Debian's protobuf-compiler" >&2
		exit 1
	fi
fi

out=${OUT:-.}
mkdir -p "$out"
export PATH="$gobin:$PATH"
protoc \
	-I proto -I proto/third_party -I /usr/include \
	--go_out="$out" --go_opt=module=github.com/hotpath-dev/hotpath \
	--go-grpc_out="$out" --go-grpc_opt=module=github.com/hotpath-dev/hotpath \
	proto/hotpath/v1/*.proto

# grpc-gateway handlers for internal/cmd/gwproxy, in their own package.
gw=$(mktemp -d)
trap 'rm -rf "$gw"' EXIT
protoc \
	-I proto -I proto/third_party -I /usr/include \
	--grpc-gateway_out="$gw" --grpc-gateway_opt=standalone=true,module=github.com/hotpath-dev/hotpath \
	proto/hotpath/v1/*.proto
mkdir -p "$out/internal/cmd/gwproxy/hotpathv1"
cp "$gw"/proto/hotpath/v1/*.pb.gw.go "$out/internal/cmd/gwproxy/hotpathv1/"
