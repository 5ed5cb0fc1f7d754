#!/usr/bin/env bash
# install-peers.sh — installs the Debian packages the interop peers need:
#   golang-go              Go toolchain (bookworm: 1.19) to build peers/go offline
#   golang-google-grpc-dev grpc-go sources (bookworm: 1.33.3) incl. credentials/alts,
#                          plus its Go dependencies (golang/protobuf 1.3, x/net, genproto, ...)
#   python3-grpcio         gRPC C-core + Python bindings (bookworm: 1.51.1), pulls python3-protobuf
#   iproute2, util-linux   `ip` for the two-machine test (test/netns); `unshare`, `setpriv`
#                          and `mount` for alts-emulator run
# Idempotent: does nothing (and needs no root) when all are installed.
#   install-peers.sh --missing   only prints the missing packages (one line, empty
#                                when none) and exits 0; installs nothing.
# Exit status: 0 = installed; 77 = cannot install (not root / no apt-get),
# with one line saying what is missing; 1 = apt-get failed.
set -euo pipefail

PACKAGES=(golang-go golang-google-grpc-dev python3-grpcio iproute2 util-linux)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if [[ "${1:-}" == "--missing" ]]; then
  echo "${missing[*]}"
  exit 0
fi
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-peers: SKIP: missing Debian packages: ${missing[*]} (no apt-get here)" >&2
  exit 77
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "install-peers: SKIP: missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
  exit 77
fi

log=$(mktemp "${TMPDIR:-/tmp}/install-peers.XXXXXX.log")
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >"$log" 2>&1; then
  echo "install-peers: apt-get update failed:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
  echo "install-peers: apt-get install ${missing[*]} failed:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
echo "install-peers: installed ${missing[*]}" >&2
