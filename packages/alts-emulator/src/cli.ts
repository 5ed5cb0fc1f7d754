// The alts-emulator command (README "CLI"), run through bin/alts-emulator.js. stdout carries only
// the READY line (or the help or version asked for); logs go to stderr.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_HOST, startEmulator } from './emulator.js';
import { disableServiceAccount, enableServiceAccount } from './iam.js';
import { quote } from './quote.js';
import { run } from './run.js';
import { defaultStateDir } from './state-dir.js';

/** Port of the real handshaker service on the metadata server (docs/protocol.md §3.10); java forces it. */
const DEFAULT_PORT = 8080;
/** ot-booking-server's default port: on one machine it and an emulator on its default collide. */
const SERVER_DEFAULT_PORT = 8080;
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;
const PROG = 'alts-emulator';

const USAGE = `Usage:
  alts-emulator [serve] --service-account <sa> [--client-service-account <sa>]
                        [--listen <host:port>] [--state-dir <dir>]
  alts-emulator run --service-account <sa> [--client-service-account <sa>] [--state-dir <dir>]
                    [--log-file <file>] -- <command> [args...]
  alts-emulator disable <sa> [--state-dir <dir>]
  alts-emulator enable <sa> [--state-dir <dir>]
  alts-emulator -h | --help | --version

A local ALTS handshaker service (grpc.gcp.HandshakerService) with real key agreement and
service-account identities vouched for by a trust root kept in the state directory.

serve (default)
  --listen <host:port>          where to listen (default ${DEFAULT_HOST}:${DEFAULT_PORT}, the real
                                service's port; use port 0 for any free port). Prints
                                "READY <host:port>" on stdout once listening.
  --service-account <sa>        identity of this "VM" (required)
  --client-service-account <sa> identity of client-side handshakes, if different
run -- <command>                runs the command (Linux) where it sees a Compute Engine VM whose
                                metadata.google.internal:8080 is an emulator for <sa>, so
                                unmodified grpc-go, grpc-java and C-core ALTS programs work;
                                its own exit status; emulator logs on stderr or --log-file
disable <sa> / enable <sa>      IAM: new handshakes involving <sa> fail / work again; running
                                emulators using the same state directory see it at once
--state-dir <dir>               trust root, identity keys, IAM state: created on first use,
                                private to you (mode 700); one that is not yours or that group
                                or others can write to is refused. Default
                                $XDG_STATE_HOME/alts-emulator, else ~/.local/state/alts-emulator
                                (never a shared directory such as /tmp: whoever creates it
                                first owns the trust root)
`;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

class UsageError extends Error {}

function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`--listen must be <host:port> or [<ipv6>]:<port>, got ${quote(value)}`);
  }
  return { host, port };
}

async function serve(values: Record<string, string | boolean | undefined>, stateDir: string): Promise<void> {
  const serviceAccount = values['service-account'];
  if (typeof serviceAccount !== 'string') throw new UsageError('serve needs --service-account <sa>');
  const listen = parseListen(
    typeof values.listen === 'string' ? values.listen : `${DEFAULT_HOST}:${DEFAULT_PORT}`,
  );
  const clientServiceAccount = values['client-service-account'];
  const emulator = await startEmulator({
    ...listen,
    serviceAccount,
    ...(typeof clientServiceAccount === 'string' ? { clientServiceAccount } : {}),
    stateDir,
    logger: log,
  }).catch((error: unknown) => {
    // grpc-js reports a busy port inside "No address added out of total 1 resolved errors: [...]".
    if (!String(error).includes('EADDRINUSE')) throw error;
    const server =
      listen.port === SERVER_DEFAULT_PORT
        ? ` (ot-booking-server's default port is ${SERVER_DEFAULT_PORT} too)`
        : '';
    throw new Error(
      `port ${listen.port} on ${listen.host} is already in use${server}: find the process with ` +
        `ss -ltnp 'sport = :${listen.port}', or choose another --listen`,
    );
  });
  const shutdown = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    emulator.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log(`stop failed: ${String(error)}`);
        process.exit(EXIT_FAILURE);
      },
    );
  };
  // Before READY: whoever reads it may signal at once, and a signal that beats the handlers kills.
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  log(`state directory ${stateDir}`);
  process.stdout.write(`READY ${emulator.address}\n`);
}

async function main(argv: string[]): Promise<void> {
  // run's own parser: everything after its -- belongs to the command.
  if (argv[0] === 'run') await run(argv.slice(1), (message) => new UsageError(message));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      listen: { type: 'string' },
      'service-account': { type: 'string' },
      'client-service-account': { type: 'string' },
      'state-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.version) {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    process.stdout.write(`${PROG} ${version}\n`);
    return;
  }
  const stateDir = values['state-dir'] ?? defaultStateDir();
  const [command = 'serve', ...rest] = positionals;
  if (command === 'serve') {
    if (rest.length > 0) throw new UsageError(`unexpected argument ${quote(rest[0] ?? '')}`);
    await serve(values, stateDir);
    return;
  }
  if (command === 'disable' || command === 'enable') {
    const [sa, ...extra] = rest;
    if (sa === undefined || extra.length > 0)
      throw new UsageError(`${command} needs exactly one service account`);
    if (
      values.listen !== undefined ||
      values['service-account'] !== undefined ||
      values['client-service-account'] !== undefined
    ) {
      throw new UsageError(`${command} takes only <sa> and --state-dir`);
    }
    await (command === 'disable' ? disableServiceAccount : enableServiceAccount)(stateDir, sa);
    log(`${command}d ${quote(sa)} in ${stateDir}`);
    return;
  }
  throw new UsageError(`unknown command ${quote(command)}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // parseArgs reports bad flags as TypeErrors with an ERR_PARSE_ARGS_* code.
  const code = (error as { code?: unknown }).code;
  const parseError = typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
  if (error instanceof UsageError || parseError) {
    // One line and where to look (clig.dev). Of parseArgs's prose, the first sentence names the bad
    // argument and the rest is advice about positionals.
    const { message } = error as Error;
    const line = parseError ? (message.split('. ')[0]?.replace(/^./, (c) => c.toLowerCase()) ?? '') : message;
    process.stderr.write(`${PROG}: ${line}\nRun '${PROG} --help' for usage.\n`);
    process.exit(EXIT_USAGE);
  }
  log(`${PROG}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(EXIT_FAILURE);
});
