// ot-booking-server, the OT booking back end over ALTS (grpc-java's AltsOtBookingServer); bin/ runs it.
import { fileURLToPath } from 'node:url';
import { type AltsServer, createHandshakeFailureLog, waitForHandshaker } from '@grpc-alts/alts';
import {
  createBookingService,
  createOtBookingServer,
  describeAltsError,
  loadBookings,
  logLine,
  parseCommandLine,
  usageError,
} from '@grpc-alts/ot-booking';
import { BookingHealth } from './health.js';

/** Time for a handshaker started alongside the server (a local recipe, a container) to come up. */
const HANDSHAKER_WAIT_S = 10;
const DEFAULT_PORT = '8080';
/** alts-emulator listens there unless told otherwise: the metadata server's handshaker port. */
const EMULATOR_DEFAULT_PORT = 8080;
/** What `alts-emulator --listen` accepts: host:port or [ipv6]:port. */
const EMULATOR_LISTEN = /^(?:\[[^\]]+\]|[^:[\]/]+):\d{1,5}$/;
const PROGRAM = {
  name: 'ot-booking-server',
  packageJson: new URL('../package.json', import.meta.url),
  usage: `Usage: ot-booking-server [options] <client-service-account>...

Serves otbooking.OtBookingService over ALTS to the given client service accounts only.

Options:
  --port <n>            port to listen on (default ${DEFAULT_PORT})
  --host <address>      address to listen on (default 0.0.0.0)
  --handshaker <addr>   ALTS handshaker service host:port (default: ALTS_HANDSHAKER_SERVICE_ADDRESS,
                        GCE_METADATA_HOST, then metadata.google.internal.:8080 on Google Cloud)
  --bookings <file>     bookings JSON file (default: the bundled sample)
  --health-port <n>     also serve grpc.health.v1 Check alone, in plaintext, on this port, for
                        load balancers that cannot speak ALTS (never the booking service)
  -h, --help            show this help
  --version             print the version

Before listening it waits up to ${HANDSHAKER_WAIT_S} s for its handshaker to answer, saying so on
stderr, and exits 1 if it does not; then it prints "HEALTH <host:port>" (with --health-port)
and "READY <host:port>" on stdout. Health statuses ('' and otbooking.OtBookingService) are
SERVING from READY until SIGINT or SIGTERM.
`,
};
const DEFAULT_BOOKINGS = fileURLToPath(new URL('../data/bookings.json', import.meta.url));
/** How long in-flight calls may finish after SIGINT/SIGTERM before connections are cut. */
const SHUTDOWN_GRACE_MS = 5_000;
const EXIT_FAILURE = 1;

/** Writes one log line; a template tag, so every field is escaped (no peer text can forge a line). */
const log = (literals: TemplateStringsArray, ...fields: readonly unknown[]) =>
  process.stderr.write(`${new Date().toISOString()} ${PROGRAM.name}: ${logLine(literals, ...fields)}\n`);

/** A start-up failure the user can fix: one log line saying how, exit 1. */
function fatal(message: string): never {
  log`${message}`;
  process.exit(EXIT_FAILURE);
}

async function checkHandshaker(address: string): Promise<void> {
  const answers = await waitForHandshaker(address, {
    timeoutMs: HANDSHAKER_WAIT_S * 1000,
    onRetry: () =>
      log`no ALTS handshaker service answers at ${address} yet; retrying for up to ${HANDSHAKER_WAIT_S} s`,
  });
  // A gRPC target (dns:///h:p, unix:/path) is not an address alts-emulator --listen takes.
  const listen = EMULATOR_LISTEN.test(address) ? address : '<host:port>';
  if (!answers)
    fatal(
      `no ALTS handshaker service answered at ${address} within ${HANDSHAKER_WAIT_S} s: start one there ` +
        `(off Google Cloud: npx alts-emulator --listen ${listen} ` +
        "--service-account <this server's account>) or point --handshaker at one",
    );
}

function parsePort(flag: string, value: string): number {
  const port = Number(value);
  if (/^\d{1,5}$/.test(value) && port <= 65_535) return port;
  return usageError(PROGRAM, `${flag} must be 0-65535, got ${value}`);
}

/** Listens with `bind`, or exits naming a busy port, how to find who holds it, and `flag`. */
async function listen(flag: string, host: string, port: number, bind: (address: string) => Promise<number>) {
  try {
    return await bind(`${host}:${port}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const emulator =
      port === EMULATOR_DEFAULT_PORT ? ` (alts-emulator's default port is ${EMULATOR_DEFAULT_PORT} too)` : '';
    return fatal(
      `port ${port} on ${host} is already in use${emulator}: find the process with ` +
        `ss -ltnp 'sport = :${port}', or choose another ${flag}`,
    );
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine(PROGRAM, {
    port: { type: 'string', default: DEFAULT_PORT },
    host: { type: 'string', default: '0.0.0.0' },
    handshaker: { type: 'string' },
    bookings: { type: 'string', default: DEFAULT_BOOKINGS },
    'health-port': { type: 'string' },
  });
  if (positionals.length === 0) usageError(PROGRAM, 'at least one client service account is required');
  const port = parsePort('--port', values.port);
  const flag = values['health-port'];
  const healthPort = flag === undefined ? undefined : parsePort('--health-port', flag);
  if (healthPort !== undefined && healthPort !== 0 && healthPort === port)
    usageError(PROGRAM, `--health-port must differ from --port (${port}): the booking port speaks only ALTS`);
  const bookings = await loadBookings(values.bookings);
  const service = createBookingService(
    bookings,
    (l) => log`getBookingInfo from ${l.caller}: patient ${l.patientID} doctor ${l.doctorID}: ${l.outcome}`,
  );
  const failures = createHandshakeFailureLog((line) => log`${line}`);
  const server: AltsServer = createOtBookingServer(service, {
    clientServiceAccounts: positionals,
    ...(values.handshaker === undefined ? {} : { handshakerServiceAddress: values.handshaker }),
    onHandshakeFailure: failures.onHandshakeFailure,
  });
  const health = new BookingHealth(server);
  await checkHandshaker(server.handshakerAddress);
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  const bound = await listen('--port', host, port, (address) => server.listen(address));
  if (healthPort !== undefined) {
    const at = await listen('--health-port', host, healthPort, (address) => health.listenPlaintext(address));
    process.stdout.write(`HEALTH ${host}:${at}\n`);
  }
  const stop = (signal: string) => {
    failures.close();
    health.stopping();
    log`${signal}: shutting down`;
    const timer = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
    timer.unref();
    void server.tryShutdown(() => clearTimeout(timer)).then(() => health.close());
  };
  // Before READY: whoever reads it may signal at once, and a signal that beats the handlers kills.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stop);
  health.serving();
  log`serving ${bookings.size} bookings on ${host}:${bound} to ${positionals}`;
  process.stdout.write(`READY ${host}:${bound}\n`);
}

main().catch((err: Error) => {
  // Creating the server throws AltsErrors about library options: say them as this program's flags.
  log`${describeAltsError(err.message)}`;
  process.exit(EXIT_FAILURE);
});
