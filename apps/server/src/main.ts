#!/usr/bin/env node
// ot-booking-server: the OT booking back end over ALTS (the Java sample's AltsOtBookingServer).
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AltsServer } from '@grpc-alts/alts';
import {
  createBookingService,
  createOtBookingServer,
  escapeLogField,
  loadBookings,
  logLine,
} from '@grpc-alts/ot-booking';
import { createFailureLog } from './failure-log.js';

const USAGE = `Usage: ot-booking-server [options] <client-service-account>...

Serves otbooking.OtBookingService over ALTS to the given client service accounts only.

Options:
  --port <n>            port to listen on (default 8080)
  --host <address>      address to listen on (default 0.0.0.0)
  --handshaker <addr>   ALTS handshaker service host:port (default: ALTS_HANDSHAKER_SERVICE_ADDRESS,
                        GCE_METADATA_HOST, then metadata.google.internal.:8080 on Google Cloud)
  --bookings <file>     bookings JSON file (default: the bundled sample)
  --help                show this help
`;
const DEFAULT_BOOKINGS = fileURLToPath(new URL('../data/bookings.json', import.meta.url));
/** How long in-flight calls may finish after SIGINT/SIGTERM before connections are cut. */
const SHUTDOWN_GRACE_MS = 5_000;
const EXIT_USAGE = 2;

/** Writes one log line; a template tag, so every field is escaped (no peer text can forge a line). */
const log = (literals: TemplateStringsArray, ...fields: readonly unknown[]) =>
  process.stderr.write(`${new Date().toISOString()} ot-booking-server: ${logLine(literals, ...fields)}\n`);

function usage(message: string): never {
  process.stderr.write(`ot-booking-server: ${escapeLogField(message)}\n\n${USAGE}`);
  process.exit(EXIT_USAGE);
}

function parse() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '0.0.0.0' },
        handshaker: { type: 'string' },
        bookings: { type: 'string', default: DEFAULT_BOOKINGS },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parse();
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (positionals.length === 0) usage('at least one client service account is required');
  const port = Number(values.port);
  if (!/^\d{1,5}$/.test(values.port) || port > 65_535) usage(`--port must be 0-65535, got ${values.port}`);

  const bookings = await loadBookings(values.bookings);
  const service = createBookingService(
    bookings,
    (l) => log`getBookingInfo from ${l.caller}: patient ${l.patientID} doctor ${l.doctorID}: ${l.outcome}`,
  );
  const failures = createFailureLog((line) => log`${line}`);
  const server: AltsServer = createOtBookingServer(service, {
    clientServiceAccounts: positionals,
    ...(values.handshaker === undefined ? {} : { handshakerServiceAddress: values.handshaker }),
    onHandshakeFailure: (error, remote) =>
      failures.record(error.code, () => `handshake with ${remote} failed: ${error.message}`),
  });
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  const bound = await server.listen(`${host}:${port}`);
  log`serving ${bookings.size} bookings on ${host}:${bound} to ${positionals}`;
  process.stdout.write(`READY ${host}:${bound}\n`);

  const stop = (signal: string) => {
    failures.close();
    log`${signal}: shutting down`;
    const timer = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
    timer.unref();
    void server.tryShutdown(() => clearTimeout(timer));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  log`${err.message}`;
  process.exit(1);
});
