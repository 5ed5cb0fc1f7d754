#!/usr/bin/env bash
# run-interop.sh [--long] — `npm run test:interop [-- --long]`: the ALTS interop matrix of issue 8
# (our library against grpc-go and gRPC C-core, every handshake through the project's emulator).
#
#  1. checks what it needs: Debian's packages (installed with apt-get when root and missing:
#     install-peers.sh);
#  2. builds the repository (npm run build: the library, the emulator, test/dist/interop/*.js)
#     and the Go peer (build-peers.sh, offline), and checks that `alts-emulator run` works here
#     (mount namespaces: as root, or rootless where the kernel allows user namespaces);
#  3. runs test/dist/interop/matrix.js with node:test (every go and C-core peer through
#     `alts-emulator run`), TAP on stdout (`# pass N`, `# fail N`, ...), then one summary line:
#        test:interop: N passed, N failed, N skipped in S s
#
#   --long   also the rekey cells that cross 65 536 frames in both directions (INTEROP_LONG=1;
#            ~3-4 min more).
#
# Exit: 0 = no cell failed, or skipped (packages missing and no way to install them, namespaces
# refused: one line "test:interop: SKIP: <what is missing>"); 1 = a cell or the build failed.
# With CI=true a skip is a failure ("test:interop: FAIL: cannot run in CI: ...").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
started=$SECONDS

long=0
for arg in "$@"; do
  case $arg in
  --long) long=1 ;;
  *)
    echo "usage: run-interop.sh [--long]" >&2
    exit 2
    ;;
  esac
done

skip() {
  if [[ "${CI:-}" == "true" ]]; then
    echo "test:interop: FAIL: cannot run in CI: $*"
    exit 1
  fi
  echo "test:interop: SKIP: $*"
  exit 0
}
fail() {
  echo "test:interop: FAIL: $*"
  exit 1
}

# ---- 1. prerequisites, reported in one line ----
command -v dpkg-query >/dev/null 2>&1 ||
  skip "not a Debian/Ubuntu system (needs dpkg and apt-get for golang-google-grpc-dev and python3-grpcio)"
missing=$("$here/install-peers.sh" --missing)
if [[ -n "$missing" ]]; then
  [[ "$(id -u)" == 0 ]] || skip "missing Debian packages: $missing (run as root to install them)"
  command -v apt-get >/dev/null 2>&1 || skip "missing Debian packages: $missing (and no apt-get)"
  echo "test:interop: installing Debian packages: $missing"
  "$here/install-peers.sh" || fail "apt-get install $missing failed (see above)"
fi

# ---- 2. build ----
(cd "$root" && npm run build --silent) || fail "npm run build failed"
set +e
peers=$("$here/build-peers.sh")
rc=$?
set -e
if [[ $rc == 77 ]]; then
  skip "the peers cannot be built (see the line above)"
elif [[ $rc != 0 ]]; then
  fail "build-peers.sh failed (see above)"
fi
state=$(mktemp -d "${TMPDIR:-/tmp}/interop-probe.XXXXXX")
set +e
probe=$(node "$root/packages/alts-emulator/dist/cli/cli.js" run --service-account probe@alts-test.iam.gserviceaccount.com \
  --state-dir "$state" -- true 2>&1)
rc=$?
set -e
rm -rf "$state"
if [[ $rc == 125 ]]; then
  skip "$(tail -n 1 <<<"$probe")"
elif [[ $rc != 0 ]]; then
  fail "alts-emulator run does not work here: $probe"
fi
GO_PEER=$(sed -n 's/^GO_PEER=//p' <<<"$peers")
PY_PEER=$(sed -n 's/^PY_PEER=//p' <<<"$peers")
export GO_PEER PY_PEER
export INTEROP_LONG=$long

# ---- 3. the matrix ----
log=$(mktemp "${TMPDIR:-/tmp}/interop-matrix.XXXXXX.tap")
trap 'rm -f "$log"' EXIT
cd "$root"
set +e
node --test --test-reporter=tap test/dist/interop/matrix.js | tee "$log"
rc=${PIPESTATUS[0]}
set -e
count() { awk -v k="$1" '$1 == "#" && $2 == k { n = $3 } END { print n + 0 }' "$log"; }
passed=$(count pass)
failed=$(count fail)
skipped=$(count skipped)
cancelled=$(count cancelled)
summary="$passed passed, $failed failed"
if [[ "$cancelled" != 0 ]]; then summary+=", $cancelled cancelled"; fi
summary+=", $skipped skipped in $((SECONDS - started)) s"
if [[ $long == 1 ]]; then summary+=" (--long)"; fi
echo "test:interop: $summary"
if [[ $rc != 0 ]]; then
  exit 1
fi
if [[ "$passed" == 0 ]]; then
  fail "no cell ran"
fi
