#!/usr/bin/env bash
# sandbox.sh <command...>
#
# Runs <command...> as root inside private mount + network + PID namespaces
# in which the ALTS libraries of grpc-go and gRPC C-core believe they are on
# Google Cloud and reach their handshaker on loopback:
#   * /sys/class/dmi/id/product_name reads "Google Compute Engine" (a
#     read-only overlay over /sys/class adds it; nothing else under /sys is
#     hidden or changed);
#   * /etc/hosts (bind mount) = the machine's hosts file plus
#     "127.0.0.1 metadata.google.internal metadata.google.internal." so
#     C-core's fixed handshaker address metadata.google.internal.:8080 is
#     127.0.0.1:8080 inside;
#   * /etc/resolv.conf (bind mount) points at 127.0.0.1 with a 1 s timeout,
#     and /etc/nsswitch.conf (bind mount) has "hosts: files dns", so a name
#     missing from /etc/hosts fails fast instead of being looked up outside;
#   * the only network interface is loopback (lo, up): nothing inside can
#     reach any other address;
#   * GRPC_DNS_RESOLVER=native (unless set): C-core then resolves through
#     glibc/files instead of c-ares, which would wait ~3 s per handshaker
#     lookup for an AAAA answer from the dead nameserver.
# Everything is torn down when the command exits: the namespaces die with
# their last process (PID namespace: when the command exits, every process
# it left behind is killed). Nothing on the machine itself is changed; the
# only trace is an empty temporary directory, removed on exit.
#
# Exit status: the command's; 77 = skipped, with one line on stderr saying
# what is missing (not root, no unshare/ip, namespaces refused).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
METADATA_HOSTS_LINE='127.0.0.1 metadata.google.internal metadata.google.internal.'

skip() {
  echo "sandbox: SKIP: $*" >&2
  exit 77
}

inside() {
  local dir=$1
  shift
  # Private scratch space for the files we bind-mount (lives and dies with
  # this mount namespace; the directory on the machine stays empty).
  mount -t tmpfs -o mode=0755,size=4m alts-sandbox "$dir"

  ip link set lo up

  # /sys/class/dmi/id/product_name via an overlay; our layer wins over any
  # real dmi entry.
  mkdir -p "$dir/class/dmi/id"
  printf 'Google Compute Engine\n' >"$dir/class/dmi/id/product_name"
  mount -t overlay alts-sandbox-sysclass -o "ro,lowerdir=$dir/class:/sys/class" /sys/class ||
    skip "cannot overlay /sys/class (overlayfs unavailable?)"

  { cat /etc/hosts 2>/dev/null || true; echo "$METADATA_HOSTS_LINE"; } >"$dir/hosts"
  mount --bind "$dir/hosts" /etc/hosts

  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$dir/resolv.conf"
  if [[ -e /etc/resolv.conf ]]; then
    mount --bind "$dir/resolv.conf" /etc/resolv.conf
  fi
  if [[ -e /etc/nsswitch.conf ]]; then
    sed -e 's/^hosts:.*/hosts: files dns/' /etc/nsswitch.conf >"$dir/nsswitch.conf"
    grep -q '^hosts:' "$dir/nsswitch.conf" || echo 'hosts: files dns' >>"$dir/nsswitch.conf"
    mount --bind "$dir/nsswitch.conf" /etc/nsswitch.conf
  fi

  if [[ "$(cat /sys/class/dmi/id/product_name)" != "Google Compute Engine" ]]; then
    skip "product_name overlay did not take effect"
  fi
  export ALTS_INTEROP_SANDBOX=1
  # C-core's default c-ares resolver answers A from /etc/hosts but sends the
  # AAAA query to the (dead) nameserver and waits ~3 s for it on every
  # handshaker lookup; glibc's getaddrinfo answers both from /etc/hosts.
  export GRPC_DNS_RESOLVER="${GRPC_DNS_RESOLVER:-native}"
  exec "$@"
}

if [[ "${1:-}" == "--inside" ]]; then
  shift
  inside "$@"
fi

if [[ $# -eq 0 ]]; then
  echo "usage: sandbox.sh <command...>" >&2
  exit 2
fi
[[ "$(id -u)" == 0 ]] || skip "needs root (private mount+network namespaces via unshare); run as root or in CI"
command -v unshare >/dev/null 2>&1 || skip "needs unshare (util-linux)"
command -v ip >/dev/null 2>&1 || skip "needs ip (iproute2)"
unshare --mount --net --pid --fork --kill-child true 2>/dev/null ||
  skip "unshare --mount --net --pid refused here (container without CAP_SYS_ADMIN?)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/alts-sandbox.XXXXXX")
child=
cleanup() {
  if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
    # unshare --fork blocks SIGTERM/SIGINT in itself: give the command (the
    # namespace's init, unshare's only child) a TERM and 2 s, then KILL
    # unshare; --kill-child then SIGKILLs the namespace's init, and with it
    # every process of the PID namespace.
    local inner i
    inner=$(cat "/proc/$child/task/$child/children" 2>/dev/null || pgrep -P "$child" 2>/dev/null || true)
    if [[ -n "$inner" ]]; then
      kill -TERM $inner 2>/dev/null || true
    fi
    for i in $(seq 20); do
      kill -0 "$child" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  rmdir "$dir" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

unshare --mount --net --pid --fork --kill-child --mount-proc --propagation private \
  -- "$SELF" --inside "$dir" "$@" &
child=$!
set +e
wait "$child"
rc=$?
set -e
child=
exit "$rc"
