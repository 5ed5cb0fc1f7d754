#!/usr/bin/env node
// ts-peer: an OtBooking server and client on this repository's ALTS library (@grpc-alts/alts over
// @grpc/grpc-js), for the interop matrix. Same command line and output contract as the go and
// python peers (test/interop/README.md "Peer CLIs"):
//
//   ts-peer server --listen HOST:PORT --handshaker HOST:PORT [--allowed SA]... [--max-frame-size N]
//   ts-peer client --target HOST:PORT --handshaker HOST:PORT [--target-sa SA]...
//                  [--size N] [--calls K] [--timeout 30s] [--max-frame-size N]
//   ts-peer version
//
// Server: prints "READY <host:port>" on stdout once serving; logs one "call peer=<client sa>
// local=<server sa> ..." line per RPC on stderr (before authorization, as go-peer); with at least
// one --allowed, clientAuthorizationInterceptor answers PERMISSION_DENIED "Client <sa> is not
// authorized" to every other caller. getBookingInfo echoes description as condition, bookingDate
// "01-Jun-2024 11:30". SIGTERM/SIGINT stop it (exit 0).
//
// Client: K calls with an N-byte description (the same bytes as go-peer's and peer.py's), each
// checked for condition == description and the booking date; prints "OK calls=K bytes=N
// peer=<server sa>" (the server's identity from onHandshake) on stdout, or "<STATUS_CODE_NAME>:
// <details>" on stderr and exit 1; "MISMATCH: ..." exit 3; usage exit 2.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import {
  type AltsPeerContext,
  clientAuthorizationInterceptor,
  createAltsServer,
  getAltsContext,
} from '@grpc-alts/alts';
import {
  type BookingResponse,
  createOtBookingClient,
  type OtBookingServiceServer,
  OtBookingServiceService,
} from '@grpc-alts/ot-booking';

const BOOKING_DATE = '01-Jun-2024 11:30';
const MAX_MSG = 64 << 20;
const MESSAGE_OPTIONS = {
  'grpc.max_receive_message_length': MAX_MSG,
  'grpc.max_send_message_length': MAX_MSG,
};
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_MISMATCH = 3;
/** How long a SIGTERM'd server lets calls in flight finish before it closes everything. */
const SHUTDOWN_GRACE_MS = 2_000;

function log(line: string): void {
  process.stderr.write(`ts-peer: ${line}\n`);
}

function usage(message: string): never {
  process.stderr.write(`ts-peer: ${message}\n`);
  process.exit(EXIT_USAGE);
}

function describeContext(c: AltsPeerContext): string {
  return `peer=${c.peerServiceAccount} local=${c.localServiceAccount} record_protocol=${c.recordProtocol} security_level=${c.securityLevel}`;
}

/** Optional `--max-frame-size`: the max frame size we advertise (the library's default otherwise). */
function frameSizeOption(value: string | undefined): { maxFrameSize?: number } {
  if (value === undefined) return {};
  const n = Number(value);
  if (!Number.isInteger(n)) usage(`--max-frame-size must be an integer, got ${JSON.stringify(value)}`);
  return { maxFrameSize: n };
}

// ---- server ----

async function runServer(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: 'string', default: '127.0.0.1:0' },
      handshaker: { type: 'string' },
      allowed: { type: 'string', multiple: true, default: [] },
      'max-frame-size': { type: 'string' },
    },
  });
  const handshaker = values.handshaker ?? usage('server needs --handshaker HOST:PORT');
  const allowed = values.allowed;

  // Outermost: log every call with the connection's identities, authorized or not.
  const logCalls: ServerInterceptor = (_method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const context = getAltsContext(call);
            log(context ? `call ${describeContext(context)}` : 'call without an ALTS context');
            nextMetadata(metadata);
          },
        }),
    });
  const server = createAltsServer({
    handshakerServiceAddress: handshaker,
    ...frameSizeOption(values['max-frame-size']),
    interceptors: allowed.length > 0 ? [logCalls, clientAuthorizationInterceptor(allowed)] : [logCalls],
    serverOptions: MESSAGE_OPTIONS,
    onHandshakeFailure: (error, remote) => log(`handshake from ${remote} failed: ${error.message}`),
  });
  const impl: OtBookingServiceServer = {
    getBookingInfo: (call, callback) => {
      callback(null, { bookingDate: BOOKING_DATE, condition: call.request.description });
    },
  };
  server.addService(OtBookingServiceService, impl);

  const host = values.listen.slice(0, values.listen.lastIndexOf(':'));
  let port: number;
  try {
    port = await server.listen(values.listen);
  } catch (err) {
    process.stderr.write(`UNAVAILABLE: cannot listen on ${values.listen}: ${(err as Error).message}\n`);
    return EXIT_FAILED;
  }
  log(`server handshaker=${handshaker} allowed=[${allowed.join(',')}]`);
  process.stdout.write(`READY ${host}:${port}\n`);

  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log(`${signal}: stopping`);
      const timer = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
      void server.tryShutdown().then(() => {
        clearTimeout(timer);
        resolve(0);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

// ---- client ----

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** An n-byte printable payload that differs per call (byte for byte go-peer's and peer.py's). */
function description(call: number, n: number): string {
  const prefix = `call-${call}:`;
  let cycle = '';
  for (let i = 0; i < ALPHABET.length; i++) cycle += ALPHABET[(i * 7 + call) % ALPHABET.length];
  const need = Math.max(0, n - prefix.length);
  return (prefix + cycle.repeat(Math.ceil(need / cycle.length))).slice(0, n);
}

/** `30s`, `500ms`, `2m` or plain seconds (`30`, as peer.py) → milliseconds. */
function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value);
  if (!match?.[1]) usage(`--timeout must be a duration like 30s, got ${JSON.stringify(value)}`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n : match[2] === 'm' ? n * 60_000 : n * 1000;
}

function nonNegativeInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) usage(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

async function runClient(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: 'string' },
      handshaker: { type: 'string' },
      'target-sa': { type: 'string', multiple: true, default: [] },
      size: { type: 'string', default: String(70 * 1024) },
      calls: { type: 'string', default: '3' },
      timeout: { type: 'string', default: '30s' },
      'max-frame-size': { type: 'string' },
    },
  });
  const target = values.target ?? usage('client needs --target HOST:PORT');
  const handshaker = values.handshaker ?? usage('client needs --handshaker HOST:PORT');
  const size = nonNegativeInt('size', values.size);
  const calls = nonNegativeInt('calls', values.calls);
  if (calls < 1) usage('--calls must be at least 1');
  const timeoutMs = parseDuration(values.timeout);

  let server: AltsPeerContext | undefined;
  const client = createOtBookingClient(target, {
    handshakerServiceAddress: handshaker,
    targetServiceAccounts: values['target-sa'],
    ...frameSizeOption(values['max-frame-size']),
    onHandshake: (context) => {
      server = context;
      log(`handshake with ${target}: server ${describeContext(context)}`);
    },
    channelOptions: MESSAGE_OPTIONS,
  });
  log(
    `client target=${target} handshaker=${handshaker} target_sa=[${values['target-sa'].join(',')}] size=${size} calls=${calls}`,
  );
  try {
    for (let i = 0; i < calls; i++) {
      const request = { patientID: 'patient-1', doctorID: 'doctor-2', description: description(i, size) };
      let response: BookingResponse;
      try {
        response = await new Promise<BookingResponse>((resolve, reject) =>
          client.getBookingInfo(request, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
            err ? reject(err) : resolve(res),
          ),
        );
      } catch (err) {
        const e = err as ServiceError;
        process.stderr.write(`${status[e.code] ?? `CODE_${e.code}`}: ${e.details}\n`);
        return EXIT_FAILED;
      }
      if (response.condition !== request.description) {
        process.stderr.write(
          `MISMATCH: call ${i}: condition (${response.condition.length} bytes) != description (${size} bytes)\n`,
        );
        return EXIT_MISMATCH;
      }
      if (response.bookingDate !== BOOKING_DATE) {
        process.stderr.write(
          `MISMATCH: call ${i}: bookingDate ${JSON.stringify(response.bookingDate)}, want ${JSON.stringify(BOOKING_DATE)}\n`,
        );
        return EXIT_MISMATCH;
      }
    }
  } finally {
    client.close();
  }
  if (!server) {
    process.stderr.write('MISMATCH: calls succeeded but onHandshake never reported the server\n');
    return EXIT_MISMATCH;
  }
  process.stdout.write(`OK calls=${calls} bytes=${size} peer=${server.peerServiceAccount}\n`);
  return 0;
}

/** A package's version, from the package.json next to its resolved entry point's dist/ folder. */
function version(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === name) return pkg.version ?? '?';
    } catch {
      // not there: one level up
    }
  }
  return '?';
}

async function main(argv: string[]): Promise<number> {
  const [role, ...rest] = argv;
  try {
    switch (role) {
      case 'server':
        return await runServer(rest);
      case 'client':
        return await runClient(rest);
      case 'version':
        process.stdout.write(
          `@grpc-alts/alts ${version('@grpc-alts/alts')} on @grpc/grpc-js ${version('@grpc/grpc-js')}\n`,
        );
        return 0;
      default:
        return usage('usage: ts-peer server|client|version [flags] (see test/interop/README.md)');
    }
  } catch (err) {
    // Bad flags (parseArgs) and bad options (AltsError INVALID_ARGUMENT) are usage errors.
    return usage((err as Error).message);
  }
}

process.exitCode = await main(process.argv.slice(2));
