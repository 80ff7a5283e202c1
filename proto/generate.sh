#!/bin/sh
# Regenerates the Go code for the protobuf APIs under proto/ into internal/.
# Offline: Debian's protoc (packages protobuf-compiler and libprotobuf-dev for
# the well-known types) and the plugins pinned as tools in go.mod.
# Run from anywhere: `go generate ./internal/admin` or `sh proto/generate.sh`.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

command -v protoc >/dev/null || { echo "generate: protoc not found (apt-get install protobuf-compiler libprotobuf-dev)" >&2; exit 1; }
include=""
for d in /usr/include /usr/local/include; do
	[ -f "$d/google/protobuf/timestamp.proto" ] && include="$d" && break
done
[ -n "$include" ] || { echo "generate: google/protobuf/timestamp.proto not found (apt-get install libprotobuf-dev)" >&2; exit 1; }

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# The versions come from the tool directives in go.mod.
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-connect-go" connectrpc.com/connect/cmd/protoc-gen-connect-go

rm -rf internal/admin/adminv1
protoc -I proto -I "$include" \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-connect-go="$bin/protoc-gen-connect-go" \
	--go_out=. --go_opt=module=github.com/galmirror/galmirror \
	--connect-go_out=. --connect-go_opt=module=github.com/galmirror/galmirror \
	proto/galmirror/admin/v1/admin.proto
