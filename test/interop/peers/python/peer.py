#!/usr/bin/python3
"""py-peer: an OtBooking server and client on gRPC C-core's ALTS credentials
through Debian's python3-grpcio, for the interop matrix.

Run with Debian's own interpreter (/usr/bin/python3), which is the one that
sees /usr/lib/python3/dist-packages/grpc.

  peer.py server --listen HOST:PORT [--allowed SA]...
  peer.py client --target HOST:PORT [--target-sa SA]... [--size N] [--calls K] [--timeout S]

C-core always contacts its handshaker at metadata.google.internal.:8080 (no
override in grpcio), so both roles must run where that name resolves to the
handshaker (test/interop/sandbox.sh) and where /sys/class/dmi/id/product_name
says Google; elsewhere grpcio refuses to build ALTS credentials.

Server: prints "READY <host:port>" on stdout once serving (port 0 picks a
free port); logs one "call peer=<client sa> ..." line per RPC on stderr;
with at least one --allowed, the auth context's service_account must equal
one of them exactly, else the RPC is aborted with PERMISSION_DENIED
"Client <sa> is not authorized". getBookingInfo echoes description as
condition, bookingDate "01-Jun-2024 11:30". SIGTERM/SIGINT stop it (exit 0).

Client: K calls with an N-byte description, each checked for
condition == description and the fixed bookingDate; prints
"OK calls=K bytes=N peer=-" on stdout (grpcio's client API does not expose
the server's auth context, so the server's service account is unknown:
"-"), or on failure "<STATUS_CODE_NAME>: <details>" on stderr and exits 1
(2 = usage, 3 = response mismatch, reported as "MISMATCH: ...", 4 = this
grpcio cannot do what was asked, reported as "UNIMPLEMENTED: ...": grpcio
1.51 cannot set target service accounts, so --target-sa always ends there).

The messages are hand-encoded protobuf (no protoc, no generated code).
"""

import argparse
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

METHOD = "/otbooking.OtBookingService/getBookingInfo"
SERVICE = "otbooking.OtBookingService"
BOOKING_DATE = "01-Jun-2024 11:30"
MAX_MSG = 64 << 20
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MSG),
    ("grpc.max_send_message_length", MAX_MSG),
]


def log(msg):
    print("py-peer: " + msg, file=sys.stderr, flush=True)


# ---- protobuf wire format, just what the two messages need ----


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(buf, pos):
    shift = 0
    result = 0
    while True:
        if pos >= len(buf):
            raise ValueError("protobuf: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("protobuf: varint too long")


def encode_strings(fields):
    """fields: list of (field_number, str); proto3 omits empty strings."""
    out = bytearray()
    for number, value in fields:
        if not value:
            continue
        data = value.encode("utf-8")
        out += _varint(number << 3 | 2)
        out += _varint(len(data))
        out += data
    return bytes(out)


def decode_strings(buf):
    """Returns {field_number: str} for length-delimited fields; skips others."""
    fields = {}
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            _, pos = _read_varint(buf, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("protobuf: truncated field")
            fields[number] = bytes(buf[pos:pos + length]).decode("utf-8")
            pos += length
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError("protobuf: unsupported wire type %d" % wire_type)
    if pos > len(buf):
        raise ValueError("protobuf: truncated message")
    return fields


def encode_request(req):
    return encode_strings([(1, req["patientID"]), (2, req["doctorID"]), (3, req["description"])])


def decode_request(buf):
    f = decode_strings(buf)
    return {"patientID": f.get(1, ""), "doctorID": f.get(2, ""), "description": f.get(3, "")}


def encode_response(resp):
    return encode_strings([(1, resp["bookingDate"]), (2, resp["condition"])])


def decode_response(buf):
    f = decode_strings(buf)
    return {"bookingDate": f.get(1, ""), "condition": f.get(2, "")}


# ---- server ----


def _first(auth, key):
    values = auth.get(key) or []
    if not values:
        return ""
    v = values[0]
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def run_server(args):
    allowed = list(args.allowed or [])

    def get_booking_info(request, context):
        auth = context.auth_context()
        peer_sa = _first(auth, "service_account")
        log("call peer=%s transport_security_type=%s security_level=%s bytes=%d"
            % (peer_sa, _first(auth, "transport_security_type"),
               _first(auth, "security_level"), len(request["description"])))
        if allowed:
            if _first(auth, "transport_security_type") != "alts":
                log("denied: not an ALTS context")
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              "The context is not an ALTS-compatible context")
            if peer_sa not in allowed:
                log("denied: Client %s is not authorized" % peer_sa)
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              "Client %s is not authorized" % peer_sa)
        return {"bookingDate": BOOKING_DATE, "condition": request["description"]}

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "getBookingInfo": grpc.unary_unary_rpc_method_handler(
            get_booking_info,
            request_deserializer=decode_request,
            response_serializer=encode_response),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[handler],
                         options=CHANNEL_OPTIONS)
    creds = grpc.alts_server_credentials()
    try:
        port = server.add_secure_port(args.listen, creds)
    except RuntimeError as e:
        print("UNAVAILABLE: cannot listen on %s with ALTS credentials: %s" % (args.listen, e),
              file=sys.stderr, flush=True)
        return 1
    if not port:
        print("UNAVAILABLE: cannot listen on %s with ALTS credentials" % args.listen,
              file=sys.stderr, flush=True)
        return 1
    host = args.listen.rsplit(":", 1)[0]
    server.start()
    stop = threading.Event()

    def on_signal(signum, _frame):
        log("signal %d: stopping" % signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log("grpcio %s server allowed=%s" % (grpc.__version__, allowed))
    print("READY %s:%d" % (host, port), flush=True)
    while not stop.wait(3600):
        pass
    server.stop(grace=None).wait(5)
    return 0


# ---- client ----

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def description(call, n):
    """An n-byte printable payload that differs per call (same as go-peer's)."""
    prefix = "call-%d:" % call
    need = max(0, n - len(prefix))
    cycle = "".join(ALPHABET[(i * 7 + call) % len(ALPHABET)] for i in range(len(ALPHABET)))
    body = cycle * (need // len(cycle) + 1)
    return (prefix + body[:need])[:n]


def run_client(args):
    if args.calls < 1 or args.size < 0:
        print("py-peer client: --calls >= 1, --size >= 0", file=sys.stderr)
        return 2
    try:
        creds = grpc.alts_channel_credentials(service_accounts=list(args.target_sa or []))
    except TypeError as e:
        # grpcio 1.51 (Debian bookworm): any non-empty list fails in its
        # Cython wrapper (str -> "expected bytes, str found", bytes ->
        # "Expected str, got bytes"), so target service accounts cannot be set.
        print("UNIMPLEMENTED: grpcio %s cannot set ALTS target service accounts "
              "(alts_channel_credentials: TypeError: %s)" % (grpc.__version__, e),
              file=sys.stderr, flush=True)
        return 4
    log("grpcio %s client target=%s target_sa=%s size=%d calls=%d"
        % (grpc.__version__, args.target, args.target_sa or [], args.size, args.calls))
    with grpc.secure_channel(args.target, creds, options=CHANNEL_OPTIONS) as channel:
        call = channel.unary_unary(METHOD, request_serializer=encode_request,
                                   response_deserializer=decode_response)
        for i in range(args.calls):
            req = {"patientID": "patient-1", "doctorID": "doctor-2",
                   "description": description(i, args.size)}
            try:
                resp = call(req, timeout=args.timeout)
            except grpc.RpcError as e:
                print("%s: %s" % (e.code().name, e.details()), file=sys.stderr, flush=True)
                return 1
            if resp["condition"] != req["description"]:
                print("MISMATCH: call %d: condition (%d bytes) != description (%d bytes)"
                      % (i, len(resp["condition"]), len(req["description"])),
                      file=sys.stderr, flush=True)
                return 3
            if resp["bookingDate"] != BOOKING_DATE:
                print("MISMATCH: call %d: bookingDate %r, want %r"
                      % (i, resp["bookingDate"], BOOKING_DATE), file=sys.stderr, flush=True)
                return 3
    # grpcio exposes no auth context on the client side: the server's
    # service account is not observable here.
    print("OK calls=%d bytes=%d peer=-" % (args.calls, args.size), flush=True)
    return 0


def main(argv):
    p = argparse.ArgumentParser(prog="py-peer", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", default="127.0.0.1:0")
    s.add_argument("--allowed", action="append",
                   help="client service account allowed (repeatable; none = no check)")
    c = sub.add_parser("client")
    c.add_argument("--target", required=True)
    c.add_argument("--target-sa", action="append",
                   help="expected server service account (repeatable; sent as target_identities)")
    c.add_argument("--size", type=int, default=70 * 1024)
    c.add_argument("--calls", type=int, default=3)
    c.add_argument("--timeout", type=float, default=30.0, help="deadline per call, seconds")
    sub.add_parser("version")
    args = p.parse_args(argv)
    if args.role == "server":
        return run_server(args)
    if args.role == "client":
        return run_client(args)
    print("grpcio %s" % grpc.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
