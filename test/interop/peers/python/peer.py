#!/usr/bin/python3
"""py-peer: an OtBooking server and client on gRPC C-core's ALTS credentials
through Debian's python3-grpcio, for the interop matrix.

Run with Debian's own interpreter (/usr/bin/python3), which is the one that
sees /usr/lib/python3/dist-packages/grpc.

  peer.py server --listen HOST:PORT [--allowed SA]...
  peer.py client --target HOST:PORT [--target-sa SA]... [--size N] [--calls K] [--timeout S]
  peer.py bench --target HOST:PORT --config JSON   (the benchmark's workloads; see run_bench)

C-core always contacts its handshaker at metadata.google.internal.:8080 (no
override in grpcio), so both roles must run where that name resolves to the
handshaker (`alts-emulator run`) and where /sys/class/dmi/id/product_name
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
import json
import os
import resource
import signal
import struct
import sys
import threading
import time
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
        if args.bench and not allowed:
            # Bench mode: nothing to check or log, so the call costs what the echo costs.
            return {"bookingDate": BOOKING_DATE, "condition": request["description"]}
        auth = context.auth_context()
        peer_sa = _first(auth, "service_account")
        if not args.bench:
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

    handlers = [grpc.method_handlers_generic_handler(SERVICE, {
        "getBookingInfo": grpc.unary_unary_rpc_method_handler(
            get_booking_info,
            request_deserializer=decode_request,
            response_serializer=encode_response),
    })]
    if args.bench:
        handlers.append(BENCH_HANDLER)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=handlers,
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


# ---- benchmark mode (npm run bench: test/bench/sections/peers.ts) ----
#
# `server --bench` also serves bench.StreamBench (Pull: server streaming of raw bytes, the request
# u32le count, u32le size, as in test/bench/lib/services.ts; Cpu: the server's CPU time) and logs
# no line per call. `bench` runs the grpc-js cells' workloads once, with the bench's settings
# (--config, the same names) and prints one JSON object of figures named as the bench's metrics;
# major GCs (a V8 figure) are absent. Failed calls are counted in "errors", not fatal.

BENCH_SERVICE = "bench.StreamBench"
PULL_METHOD = "/bench.StreamBench/Pull"
CPU_METHOD = "/bench.StreamBench/Cpu"
# The same caps as services.ts's MAX_PULL_COUNT and MAX_PULL_SIZE, and its filler byte.
MAX_PULL_COUNT = 100000
MAX_PULL_SIZE = 1 << 20
PULL_FILL = b"\x5a"
# Every bench channel has its own connection, as the grpc-js bench clients do (grpcio shares
# subchannels between channels by default, which would make "new channel" reuse a connection).
BENCH_CHANNEL_OPTIONS = CHANNEL_OPTIONS + [("grpc.use_local_subchannel_pool", 1)]


def cpu_micros():
    """This process's user + system CPU time so far (every thread, C-core's included), in µs."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return int((r.ru_utime + r.ru_stime) * 1e6)


def pull(request, _context):
    count, size = struct.unpack("<II", request[:8]) if len(request) >= 8 else (0, 0)
    message = PULL_FILL * min(size, MAX_PULL_SIZE)
    for _ in range(min(count, MAX_PULL_COUNT)):
        yield message


def server_cpu(_request, _context):
    return struct.pack("<Q", cpu_micros())


BENCH_HANDLER = grpc.method_handlers_generic_handler(BENCH_SERVICE, {
    "Pull": grpc.unary_stream_rpc_method_handler(pull),
    "Cpu": grpc.unary_unary_rpc_method_handler(server_cpu),
})


def percentile(sorted_values, p):
    """Nearest-rank percentile, as test/bench/lib/stats.ts computes it."""
    rank = -(-len(sorted_values) * p // 100)
    return sorted_values[min(len(sorted_values), max(1, int(rank))) - 1]


class Bench:
    def __init__(self, target, config, timeout):
        self.target = target
        self.cfg = config
        self.timeout = timeout
        self.creds = grpc.alts_channel_credentials()
        self.lock = threading.Lock()
        self.errors = 0
        self.first_error = None
        self.figures = {}

    def fail(self, error):
        with self.lock:
            self.errors += 1
            if self.first_error is None:
                self.first_error = (
                    "%s: %s" % (error.code().name, error.details())
                    if isinstance(error, grpc.RpcError) else str(error))

    def channel(self, extra_options=()):
        return grpc.secure_channel(self.target, self.creds,
                                   options=BENCH_CHANNEL_OPTIONS + list(extra_options))

    def echo_call(self, channel):
        return channel.unary_unary(METHOD, request_serializer=encode_request,
                                   response_deserializer=decode_response)

    def loop(self, seconds, fn):
        """Calls fn() one at a time for `seconds`; returns (calls completed, elapsed s)."""
        start = time.monotonic()
        deadline = start + seconds
        completed = 0
        while time.monotonic() < deadline:
            try:
                fn()
                completed += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted, none ends the run
                self.fail(e)
        return completed, time.monotonic() - start

    def concurrent_loop(self, inflight, seconds, start_call):
        """Keeps `inflight` calls (start_call() -> future) outstanding for `seconds`."""
        start = time.monotonic()
        deadline = start + seconds
        state = {"completed": 0, "outstanding": inflight}
        finished = threading.Event()

        def on_done(future):
            error = future.exception()
            if error is not None:
                self.fail(error)
            with self.lock:
                if error is None:
                    state["completed"] += 1
                again = time.monotonic() < deadline
                if not again:
                    state["outstanding"] -= 1
                    if state["outstanding"] == 0:
                        finished.set()
            if again:
                start_call().add_done_callback(on_done)

        for _ in range(inflight):
            start_call().add_done_callback(on_done)
        finished.wait()
        return state["completed"], time.monotonic() - start

    def server_cpu(self, channel):
        return struct.unpack("<Q", channel.unary_unary(CPU_METHOD)(b"", timeout=self.timeout))[0]

    def sequential(self, channel, size, seconds):
        call = self.echo_call(channel)
        request = {"patientID": "p", "doctorID": "d", "description": description(0, size)}

        def echo():
            if len(call(request, timeout=self.timeout)["condition"]) != size:
                raise ValueError("bad echo")

        self.loop(self.cfg["warmupMs"] / 1000, echo)
        latencies = []

        def timed():
            t = time.perf_counter()
            echo()
            latencies.append((time.perf_counter() - t) * 1e6)

        n, elapsed = self.loop(seconds, timed)
        latencies.sort()
        return (n / elapsed, percentile(latencies, 50), percentile(latencies, 99)) if latencies else None

    def stream(self, prefix, extra_options=()):
        with self.channel(extra_options) as channel:
            pull_call = channel.unary_stream(PULL_METHOD)
            request = struct.pack("<II", self.cfg["streamMessagesPerCall"],
                                  self.cfg["streamMessageBytes"])
            received = {"warm": 0, "measured": 0}

            def pull_into(key):
                def run():
                    for message in pull_call(request, timeout=self.timeout):
                        received[key] += len(message)
                return run

            before = self.server_cpu(channel)
            self.loop(self.cfg["warmupMs"] / 1000, pull_into("warm"))
            cpu = cpu_micros()
            _, elapsed = self.loop(self.cfg["streamMs"] / 1000, pull_into("measured"))
            client_us = cpu_micros() - cpu
            after = self.server_cpu(channel)
        measured = received["measured"]
        if measured:
            self.figures[prefix + "MBps"] = measured / 1e6 / elapsed
            self.figures[prefix + "ClientCpuUsPerMB"] = client_us / (measured / 1e6)
            # As in the grpc-js cells: the server's counter spans warm-up and measurement.
            self.figures[prefix + "ServerCpuUsPerMB"] = (
                (after - before) / ((received["warm"] + measured) / 1e6))

    def new_channel(self):
        times = []
        deadline = time.monotonic() + self.cfg["newChannelMaxMs"] / 1000
        while len(times) < self.cfg["newChannelCount"] and time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                with self.channel() as channel:
                    self.echo_call(channel)(
                        {"patientID": "p", "doctorID": "d", "description": "x"}, timeout=self.timeout)
                times.append((time.perf_counter() - t) * 1e3)
            except grpc.RpcError as e:
                self.fail(e)
        if times:
            self.figures["newChannelMs"] = percentile(sorted(times), 50)

    def unary(self, channel, size):
        call = self.echo_call(channel)
        request = {"patientID": "p", "doctorID": "d", "description": description(0, size)}
        inflight = self.cfg["inflight"]
        before = self.server_cpu(channel)

        def start_call():
            return call.future(request, timeout=self.timeout)

        warm, _ = self.concurrent_loop(inflight, self.cfg["warmupMs"] / 1000, start_call)
        cpu = cpu_micros()
        n, elapsed = self.concurrent_loop(inflight, self.cfg["unaryMs"] / 1000, start_call)
        client_us = cpu_micros() - cpu
        after = self.server_cpu(channel)
        return (n / elapsed, client_us / n, (after - before) / (warm + n)) if n else None

    def run(self):
        with self.channel() as channel:
            echo = self.sequential(channel, self.cfg["echoPayloadBytes"], self.cfg["echoMs"] / 1000)
            if echo:
                self.figures["echo1MBMBps"] = echo[0] * self.cfg["echoPayloadBytes"] / 1e6
            seq = self.sequential(channel, self.cfg["sequentialPayloadBytes"],
                                  self.cfg["sequentialMs"] / 1000)
            if seq:
                self.figures["seq100BPerS"], self.figures["seqP50Us"], self.figures["seqP99Us"] = seq
            # "default": C-core's own flow control (windows grown by BDP estimation); "tuned":
            # fixed windows of the size the OtBooking factory gives grpc-js, BDP probing off.
            self.stream("stream")
            window = self.cfg["tunedFlowControlWindow"]
            self.stream("tunedStream", [("grpc.http2.lookahead_bytes", window),
                                        ("grpc.http2.bdp_probe", 0)])
            self.new_channel()
            for metric, size in (("unary1BQps", 1), ("unary1KiBQps", 1024)):
                r = self.unary(channel, size)
                if r:
                    self.figures[metric] = r[0]
                    if size == 1:
                        self.figures["unaryClientCpuUs"], self.figures["unaryServerCpuUs"] = r[1:]


BENCH_SETTINGS = ("warmupMs", "echoMs", "echoPayloadBytes", "sequentialMs", "sequentialPayloadBytes",
                  "streamMs", "streamMessageBytes", "streamMessagesPerCall",
                  "tunedFlowControlWindow", "newChannelCount", "newChannelMaxMs", "unaryMs",
                  "inflight")


def run_bench(args):
    try:
        config = json.loads(args.config)
        missing = [k for k in BENCH_SETTINGS if not isinstance(config.get(k), int)]
    except ValueError as e:
        missing = ["valid JSON: %s" % e]
    if missing or config["inflight"] < 1:
        print("py-peer bench: --config lacks %s (whole numbers; inflight >= 1)" % ", ".join(missing),
              file=sys.stderr)
        return 2
    bench = Bench(args.target, config, args.timeout)
    try:
        bench.run()
    except Exception as e:  # noqa: BLE001 - reported with the figures so far
        bench.fail(e)
    out = dict(bench.figures, errors=bench.errors)
    if bench.first_error is not None:
        out["firstError"] = bench.first_error
    print(json.dumps(out), flush=True)
    return 0


def main(argv):
    p = argparse.ArgumentParser(prog="py-peer", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", default="127.0.0.1:0")
    s.add_argument("--allowed", action="append",
                   help="client service account allowed (repeatable; none = no check)")
    s.add_argument("--bench", action="store_true",
                   help="also serve bench.StreamBench and log no line per call (for `bench`)")
    c = sub.add_parser("client")
    c.add_argument("--target", required=True)
    c.add_argument("--target-sa", action="append",
                   help="expected server service account (repeatable; sent as target_identities)")
    c.add_argument("--size", type=int, default=70 * 1024)
    c.add_argument("--calls", type=int, default=3)
    c.add_argument("--timeout", type=float, default=30.0, help="deadline per call, seconds")
    b = sub.add_parser("bench")
    b.add_argument("--target", required=True)
    b.add_argument("--config", required=True, help="the workloads' settings, JSON")
    b.add_argument("--timeout", type=float, default=30.0, help="deadline per call, seconds")
    sub.add_parser("version")
    args = p.parse_args(argv)
    if args.role == "server":
        return run_server(args)
    if args.role == "client":
        return run_client(args)
    if args.role == "bench":
        return run_bench(args)
    print("grpcio %s" % grpc.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
