#!/usr/bin/env bash
# build-peers.sh — builds the Go peer offline (GOPATH mode against Debian's
# /usr/share/gocode, no module download) and checks the Python peer's grpcio.
#
#   test/interop/build-peers.sh            # -> test/interop/.build/bin/go-peer
#   ALTS_INTEROP_BUILD=/some/dir build-peers.sh
#
# Prints, one per line on stdout:
#   GO_PEER=<absolute path of go-peer>      (grpc-go version on stderr)
#   PY_PEER=<absolute path of peer.py>      (run it with /usr/bin/python3)
# Rebuilds only when a Go source is newer than the binary.
# Exit status: 0 ok; 77 = a needed package is missing (one line says which,
# run install-peers.sh); 1 = build failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${ALTS_INTEROP_BUILD:-$here/.build}
bin=$build/bin/go-peer
src=$here/peers/go
gocode=/usr/share/gocode

skip() {
  echo "build-peers: SKIP: $*" >&2
  exit 77
}

command -v go >/dev/null 2>&1 || [[ -x /usr/lib/go/bin/go ]] ||
  skip "no Go toolchain (Debian golang-go; run test/interop/install-peers.sh)"
GO=$(command -v go || echo /usr/lib/go/bin/go)
[[ -d $gocode/src/google.golang.org/grpc/credentials/alts ]] ||
  skip "no grpc-go sources in $gocode (Debian golang-google-grpc-dev; run test/interop/install-peers.sh)"
[[ -x /usr/bin/python3 ]] || skip "no /usr/bin/python3 (Debian python3)"
pyver=$(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)' 2>/dev/null) ||
  skip "Debian's /usr/bin/python3 cannot import grpc (Debian python3-grpcio; run test/interop/install-peers.sh)"

need=0
if [[ ! -x $bin ]]; then
  need=1
else
  for f in "$src"/*.go; do
    [[ $f -nt $bin ]] && need=1
  done
fi
if [[ $need == 1 ]]; then
  mkdir -p "$build/bin"
  # GOPATH mode, Debian's source tree only; GOPROXY=off/GOFLAGS= make sure
  # nothing is fetched. GOCACHE stays the user's default (speeds up rebuilds).
  if ! (cd "$src" && GO111MODULE=off GOPATH=$gocode GOPROXY=off GOFLAGS= GOTOOLCHAIN=local \
    "$GO" build -o "$bin.tmp" . 2>"$build/go-build.log"); then
    echo "build-peers: go build failed:" >&2
    cat "$build/go-build.log" >&2
    exit 1
  fi
  mv -f "$bin.tmp" "$bin"
fi
echo "build-peers: go-peer: $("$bin" version) ($("$GO" version | awk '{print $3}')); py-peer: grpcio $pyver (/usr/bin/python3)" >&2
echo "GO_PEER=$bin"
echo "PY_PEER=$here/peers/python/peer.py"
