#!/usr/bin/env bash
# run-matrix.sh [--long] — the foreign-only cells of the interop matrix
# (grpc-go <-> grpc-go, C-core <-> C-core, grpc-go <-> C-core) through the
# project's handshaker emulator (packages/alts-emulator/dist/cli.js), inside
# sandbox.sh. These are the controls for the TS cells: they prove the peers,
# the sandbox and the emulator without our ALTS library.
#
#   --long   also the rekey cells (>= 65 536 frames in a direction).
#
# Installs the Debian packages if needed (install-peers.sh) and builds the Go
# peer (build-peers.sh). Prints one line per cell (PASS/FAIL/SKIP) and a last
# line "interop-foreign: N passed, N failed, N skipped".
# Exit: 0 = no cell failed; 1 = a cell failed; 77 = could not run at all
# (one line says why) — except under CI=true, where that is exit 1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [[ "${1:-}" != "--inside" ]]; then
  skip_or_fail() {
    local rc=$1
    if [[ $rc == 77 && "${CI:-}" == "true" ]]; then
      echo "interop-foreign: cannot run under CI (see the line above)" >&2
      exit 1
    fi
    exit "$rc"
  }
  "$here/install-peers.sh" || skip_or_fail $?
  peers=$("$here/build-peers.sh") || skip_or_fail $?
  emulator=$root/packages/alts-emulator/dist/cli.js
  if [[ ! -f $emulator ]]; then
    echo "interop-foreign: SKIP: $emulator missing (build it: npm run build)" >&2
    skip_or_fail 77
  fi
  command -v node >/dev/null 2>&1 || { echo "interop-foreign: SKIP: node not on PATH" >&2; skip_or_fail 77; }
  # shellcheck disable=SC2046
  export $(echo "$peers" | grep -E '^(GO_PEER|PY_PEER)=')
  export EMULATOR=$emulator
  set +e
  "$here/sandbox.sh" "$here/run-matrix.sh" --inside "$@"
  rc=$?
  set -e
  skip_or_fail "$rc"
fi

# ---------------------------------------------------------------- inside ----
shift
LONG=0
[[ "${1:-}" == "--long" ]] && LONG=1

GO=("$GO_PEER")
PY=(/usr/bin/python3 "$PY_PEER")
EMU=(node "$EMULATOR")
work=$(mktemp -d "${TMPDIR:-/tmp}/interop-foreign.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

SA_S=interop-server@alts-test.iam.gserviceaccount.com
SA_C=interop-client@alts-test.iam.gserviceaccount.com
SA_S2=interop-server2@alts-test.iam.gserviceaccount.com
SA_C2=interop-client2@alts-test.iam.gserviceaccount.com
SIZE=${INTEROP_SIZE:-102400}   # >= 70 KB: many records each way
CALLS=${INTEROP_CALLS:-4}

# start VAR NAME CMD... : starts a long-running process (pid kept for
# cleanup), waits for "READY <addr>", stores the address in VAR.
start() {
  local var=$1 name=$2 i
  shift 2
  timeout 900 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for i in $(seq 150); do
    grep -q '^READY ' "$work/$name.out" && break
    sleep 0.1
  done
  if ! grep -q '^READY ' "$work/$name.out"; then
    echo "interop-foreign: $name did not become ready:" >&2
    tail -n 5 "$work/$name.err" >&2
    exit 1
  fi
  printf -v "$var" '%s' "$(awk '/^READY /{print $2; exit}' "$work/$name.out")"
}

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS $1${2:+ ($2)}"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $1: $2"; }

# run_client NAME TIMEOUT CMD... : sets $out (stdout), $err (last stderr line), $rc
run_client() {
  local name=$1 t=$2
  shift 2
  set +e
  out=$(timeout "$t" "$@" 2>"$work/$name.client.err")
  rc=$?
  set -e
  err=$(grep -v '^go-peer: \|^py-peer: ' "$work/$name.client.err" | tail -n 1 || true)
}

# server_saw LOG SA SINCE_LINES : how many "call peer=SA " lines after line SINCE
server_saw() {
  tail -n +"$(($3 + 1))" "$1" | grep -c -- "call peer=$2 " || true
}
lines() { wc -l <"$1"; }

# ok_cell NAME SERVER_LOG EXPECT_SERVER_SA EXPECT_CLIENT_SA(-=not observable) CALLS TIMEOUT CMD...
ok_cell() {
  local name=$1 log=$2 want_server=$3 want_client=$4 calls=$5 t=$6
  shift 6
  local before
  before=$(lines "$log")
  run_client "$name" "$t" "$@"
  if [[ $rc != 0 ]]; then
    fail "$name" "client exit $rc: $err"
    return
  fi
  local want_out="OK calls=$calls bytes="
  if [[ "$out" != "$want_out"* ]]; then
    fail "$name" "unexpected client output: $out"
    return
  fi
  if [[ "$want_server" != "-" && "$out" != *" peer=$want_server" ]]; then
    fail "$name" "client saw server as '${out##* peer=}', want $want_server"
    return
  fi
  local seen
  seen=$(server_saw "$log" "$want_client" "$before")
  if [[ "$seen" != "$calls" ]]; then
    fail "$name" "server logged $seen calls from $want_client, want $calls"
    return
  fi
  pass "$name" "$out"
}

# denied_cell NAME CLIENT_SA TIMEOUT CMD... : expects PERMISSION_DENIED "Client SA is not authorized"
denied_cell() {
  local name=$1 sa=$2 t=$3
  shift 3
  run_client "$name" "$t" "$@"
  if [[ $rc == 1 && "$err" == "PERMISSION_DENIED: Client $sa is not authorized" ]]; then
    pass "$name" "$err"
  else
    fail "$name" "want exit 1 + 'PERMISSION_DENIED: Client $sa is not authorized', got exit $rc: $err"
  fi
}

state=$work/emulator-state
mkdir -p "$state"
# E1 on 127.0.0.1:8080 = metadata.google.internal.:8080, the only address
# C-core can use: server handshakes as SA_S, client handshakes as SA_C.
start E1 e1 "${EMU[@]}" --listen 127.0.0.1:8080 --service-account "$SA_S" --client-service-account "$SA_C" --state-dir "$state"
# E2: a second "VM" for grpc-go peers (same trust root through --state-dir).
start E2 e2 "${EMU[@]}" --listen 127.0.0.1:8081 --service-account "$SA_S2" --client-service-account "$SA_C2" --state-dir "$state"

start GS1 go-server-e1 "${GO[@]}" server --listen 127.0.0.1:0 --handshaker "$E1" --allowed "$SA_C" --allowed "$SA_C2"
start GS2 go-server-e2 "${GO[@]}" server --listen 127.0.0.1:0 --handshaker "$E2" --allowed "$SA_C"
start PS1 core-server-e1 "${PY[@]}" server --listen 127.0.0.1:0 --allowed "$SA_C" --allowed "$SA_C2"
start GSD go-server-deny "${GO[@]}" server --listen 127.0.0.1:0 --handshaker "$E1" --allowed nobody@alts-test.iam.gserviceaccount.com
start PSD core-server-deny "${PY[@]}" server --listen 127.0.0.1:0 --allowed nobody@alts-test.iam.gserviceaccount.com
echo "interop-foreign: $("${GO[@]}" version), $("${PY[@]}" version); emulators $E1 ($SA_S / $SA_C) and $E2 ($SA_S2 / $SA_C2)"

ok_cell "go -> go" "$work/go-server-e1.err" "$SA_S" "$SA_C2" "$CALLS" 60 \
  "${GO[@]}" client --target "$GS1" --handshaker "$E2" --target-sa "$SA_S" --size "$SIZE" --calls "$CALLS"
ok_cell "core -> core" "$work/core-server-e1.err" - "$SA_C" "$CALLS" 60 \
  "${PY[@]}" client --target "$PS1" --size "$SIZE" --calls "$CALLS"
ok_cell "go -> core" "$work/core-server-e1.err" "$SA_S" "$SA_C2" "$CALLS" 60 \
  "${GO[@]}" client --target "$PS1" --handshaker "$E2" --target-sa "$SA_S" --size "$SIZE" --calls "$CALLS"
ok_cell "core -> go" "$work/go-server-e2.err" - "$SA_C" "$CALLS" 60 \
  "${PY[@]}" client --target "$GS2" --size "$SIZE" --calls "$CALLS"
ok_cell "go -> go, 1 MiB descriptions" "$work/go-server-e1.err" "$SA_S" "$SA_C2" 3 60 \
  "${GO[@]}" client --target "$GS1" --handshaker "$E2" --size 1048576 --calls 3
ok_cell "core -> core, 1 MiB descriptions" "$work/core-server-e1.err" - "$SA_C" 3 60 \
  "${PY[@]}" client --target "$PS1" --size 1048576 --calls 3

denied_cell "go -> go, client not allowed" "$SA_C2" 60 \
  "${GO[@]}" client --target "$GSD" --handshaker "$E2" --calls 1
denied_cell "core -> core, client not allowed" "$SA_C" 60 \
  "${PY[@]}" client --target "$PSD" --calls 1
denied_cell "go -> core, client not allowed" "$SA_C2" 60 \
  "${GO[@]}" client --target "$PSD" --handshaker "$E2" --calls 1
denied_cell "core -> go, client not allowed" "$SA_C" 60 \
  "${PY[@]}" client --target "$GSD" --calls 1

# Wrong target service account: the client's handshaker rejects the server
# after the server's first message (a `next` response with a non-OK status).
run_client "go -> core, wrong target service account" 60 \
  "${GO[@]}" client --target "$PS1" --handshaker "$E2" --target-sa other@alts-test.iam.gserviceaccount.com --calls 1 --timeout 10s
if [[ $rc == 1 && "$err" == UNAVAILABLE:* ]]; then
  pass "go -> core, wrong target service account" "$err"
else
  fail "go -> core, wrong target service account" "want exit 1 + UNAVAILABLE, got exit $rc: $err"
fi
skip "go -> go, wrong target service account" \
  "grpc-go 1.33 ignores HandshakerResp.status after the first response, so both go sides wait for each other until the client's deadline (DEADLINE_EXCEEDED), no prompt rejection to assert"
skip "core client, target service accounts" \
  "grpcio 1.51 cannot set them (alts_channel_credentials(service_accounts=[...]) raises TypeError for str and bytes)"

if [[ $LONG == 1 ]]; then
  # grpc-go writes 4096-byte frames (4072 plaintext): 270 x 1 MiB each way is
  # ~69 500 frames per direction. C-core writes 16 KiB frames to a go peer
  # (go advertises no max_frame_size): 1100 x 1 MiB is ~70 500 frames.
  ok_cell "rekey: go -> go, > 65536 frames each way" "$work/go-server-e1.err" "$SA_S" "$SA_C2" 270 300 \
    "${GO[@]}" client --target "$GS1" --handshaker "$E2" --size 1048576 --calls 270 --timeout 60s
  ok_cell "rekey: core -> go, > 65536 frames each way" "$work/go-server-e2.err" - "$SA_C" 1100 400 \
    "${PY[@]}" client --target "$GS2" --size 1048576 --calls 1100 --timeout 60
fi

echo "interop-foreign: $passed passed, $failed failed, $skipped skipped"
[[ $failed == 0 ]]
