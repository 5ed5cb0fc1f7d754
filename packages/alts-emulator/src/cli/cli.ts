// The alts-emulator command (README "CLI"), run through bin/alts-emulator.js. stdout carries only
// the READY line (or the help or version asked for); logs go to stderr.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkServiceAccount } from '../common/identity.js';
import { quote } from '../common/quote.js';
import { DEFAULT_HOST, startEmulator } from '../emulator.js';
import { rootDirOf } from '../pki/provision.js';
import { initRoot, issueBundle, openRoot } from '../pki/trust.js';
import { disableServiceAccount, enableServiceAccount } from '../state/iam.js';
import { IDENTITY_OPTIONS, identityOptions, stateDirOption, UsageError } from './options.js';
import { run } from './run.js';

/** Port of the real handshaker service on the metadata server (docs/protocol.md §3.10); java forces it. */
const DEFAULT_PORT = 8080;
/** ot-booking-server's default port: on one machine it and an emulator on its default collide. */
const SERVER_DEFAULT_PORT = 8080;
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;
const PROG = 'alts-emulator';

type Verb = 'serve' | 'init' | 'issue' | 'run' | 'disable' | 'enable';

/** Each verb's synopsis, as `--help` and `<verb> --help` show it. */
const SYNOPSIS: Record<Verb, string> = {
  serve: `alts-emulator [serve] (--service-account <sa> | --bundle <file>)
                        [--client-service-account <sa> | --client-bundle <file>]
                        [--listen <host:port>] [--state-dir <dir>]`,
  init: 'alts-emulator init [--root-dir <dir>]',
  issue: 'alts-emulator issue <sa> --out <file> [--root-dir <dir>]',
  run: `alts-emulator run (--service-account <sa> | --bundle <file>) [the other serve options
                    but --listen] [--log-file <file>] -- <command> [args...]`,
  disable: 'alts-emulator disable <sa> [--state-dir <dir>]',
  enable: 'alts-emulator enable <sa> [--state-dir <dir>]',
};

const SERVE_OPTIONS = `\
  --bundle <file>               identity bundle of this "VM" (from issue): its identity key,
                                certificate and the trust root's public key. The root's private
                                key is never read.
  --service-account <sa>        identity of this "VM"; without --bundle, issued on first use
                                from the state directory's trust root by a separate process
  --client-service-account <sa> identity of client-side handshakes, if different
  --client-bundle <file>        its bundle, with --bundle (same trust root)`;
const ROOT_DIR =
  '--root-dir <dir>                trust root directory, private to you; default <state-dir>/root';
const STATE_DIR = `--state-dir <dir>               IAM state; without --bundle also the trust root (root/) and
                                the bundles (bundles/). Created on first use, private to you
                                (mode 700); one that is not yours or that group or others can
                                write to is refused. Default
                                $XDG_STATE_HOME/alts-emulator, else ~/.local/state/alts-emulator
                                (never a shared directory such as /tmp: whoever creates it
                                first owns the trust root)`;
const IAM = `disable <sa> / enable <sa>      IAM: new handshakes involving <sa> fail / work again; running
                                emulators using the same state directory see it at once`;

/**
 * What each verb does: `summary` in `--help` (the shared --root-dir and --state-dir last, once),
 * then, in `<verb> --help` only, `more` and the shared options it takes.
 */
const HELP: Record<Verb, { summary: string; more?: string; shared: readonly string[] }> = {
  serve: {
    summary: `serve (default)
  --listen <host:port>          where to listen (default ${DEFAULT_HOST}:${DEFAULT_PORT}, the real
                                service's port; use port 0 for any free port). Prints
                                "READY <host:port>" on stdout once listening.
${SERVE_OPTIONS}`,
    shared: [STATE_DIR],
  },
  init: {
    summary:
      'init                            create the trust root (its private key, mode 600) in --root-dir',
    shared: [ROOT_DIR],
  },
  issue: {
    summary: `issue <sa> --out <file>         write an identity bundle for <sa> (mode 600) signed by the trust
                                root of --root-dir; copy it to the "VM" that serves <sa>`,
    shared: [ROOT_DIR],
  },
  run: {
    summary: `run -- <command>                runs the command (Linux) where it sees a Compute Engine VM whose
                                metadata.google.internal:8080 is an emulator for <sa>, so
                                unmodified grpc-go, grpc-java and C-core ALTS programs work;
                                its own exit status; emulator logs on stderr or --log-file`,
    more: `${SERVE_OPTIONS}
  --log-file <file>             append the emulator's logs to <file> (mode 600), not stderr`,
    shared: [STATE_DIR],
  },
  disable: { summary: IAM, shared: [STATE_DIR] },
  enable: { summary: IAM, shared: [STATE_DIR] },
};

const VERBS = Object.keys(SYNOPSIS) as Verb[];

const USAGE = `Usage:
${VERBS.map((verb) => `  ${SYNOPSIS[verb]}`).join('\n')}
  alts-emulator -h | --help | --version

A local ALTS handshaker service (grpc.gcp.HandshakerService) with real key agreement and
service-account identities vouched for by a local trust root.

${[...new Set(VERBS.map((verb) => HELP[verb].summary)), ROOT_DIR, STATE_DIR].join('\n')}
`;

/** `<verb> --help`: its synopsis, what it does, and only the options it takes. */
function verbUsage(verb: Verb): string {
  const { summary, more, shared } = HELP[verb];
  const lines = [summary, ...(more === undefined ? [] : [more]), ...shared];
  return `Usage:\n  ${SYNOPSIS[verb]}\n\n${lines.join('\n')}\n`;
}

function isVerb(value: string | undefined): value is Verb {
  return value !== undefined && value in SYNOPSIS;
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`--listen must be <host:port> or [<ipv6>]:<port>, got ${quote(value)}`);
  }
  return { host, port };
}

type Values = Record<string, string | boolean | undefined>;

async function serve(values: Values): Promise<void> {
  const identity = identityOptions(values, 'serve');
  const listen = parseListen(
    typeof values.listen === 'string' ? values.listen : `${DEFAULT_HOST}:${DEFAULT_PORT}`,
  );
  const emulator = await startEmulator({ ...listen, ...identity, logger: log }).catch((error: unknown) => {
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
  log(`state directory ${identity.stateDir}`);
  process.stdout.write(`READY ${emulator.address}\n`);
}

/** The options each command takes besides its positionals (a foreign one is a usage error). */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  serve: ['listen', ...Object.keys(IDENTITY_OPTIONS)],
  init: ['root-dir', 'state-dir'],
  issue: ['out', 'root-dir', 'state-dir'],
  disable: ['state-dir'],
  enable: ['state-dir'],
};

function checkOptions(command: string, values: Values): void {
  const allowed = COMMAND_OPTIONS[command];
  if (allowed === undefined) throw new UsageError(`unknown command ${quote(command)}`);
  const foreign = Object.keys(values).find((name) => !allowed.includes(name));
  if (foreign !== undefined) throw new UsageError(`${command} does not take --${foreign}`);
}

/** Exactly one positional: the service account of issue, disable and enable. */
function oneServiceAccount(command: string, rest: string[]): string {
  const [sa, ...extra] = rest;
  if (sa === undefined || extra.length > 0)
    throw new UsageError(`${command} needs exactly one service account`);
  try {
    checkServiceAccount(sa);
  } catch (error) {
    // A malformed argument is a usage error like any other: exit 2 and the pointer to --help.
    throw new UsageError(`${command}: ${(error as Error).message}`);
  }
  return sa;
}

function printVersion(): void {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${PROG} ${version}\n`);
}

function rootDirOption(values: Values): string {
  return typeof values['root-dir'] === 'string' ? values['root-dir'] : rootDirOf(stateDirOption(values));
}

async function issue(values: Values, serviceAccount: string): Promise<void> {
  const out = values.out;
  if (typeof out !== 'string') throw new UsageError('issue needs --out <file>');
  const rootDir = rootDirOption(values);
  const root = await openRoot(rootDir);
  if (!(await issueBundle(root, serviceAccount, out))) {
    throw new Error(`refusing to overwrite ${out}: it exists; remove it first to issue a new bundle`);
  }
  log(
    `issued ${quote(serviceAccount)} by trust root ${root.anchor.keyId.toString('hex')} (${rootDir}) ` +
      `into ${out}: private key inside, keep it mode 600`,
  );
}

/**
 * `run`, with its own parser: everything after its -- belongs to the command, but its own help and
 * version come first, as for the other verbs.
 */
async function runVerb(args: string[]): Promise<void> {
  const separator = args.indexOf('--');
  const own = args.slice(0, separator < 0 ? undefined : separator);
  if (own.includes('-h') || own.includes('--help')) {
    process.stdout.write(verbUsage('run'));
    return;
  }
  if (own.includes('--version')) {
    printVersion();
    return;
  }
  await run(args);
}

async function init(values: Values): Promise<void> {
  const rootDir = rootDirOption(values);
  const { root, created } = await initRoot(rootDir);
  const keyId = root.anchor.keyId.toString('hex');
  log(created ? `created trust root ${keyId} in ${rootDir}` : `trust root ${keyId} already in ${rootDir}`);
}

async function disableOrEnable(command: 'disable' | 'enable', values: Values, sa: string): Promise<void> {
  const stateDir = stateDirOption(values);
  const changed = await (command === 'disable' ? disableServiceAccount : enableServiceAccount)(stateDir, sa);
  log(
    changed
      ? `${command}d ${quote(sa)} in ${stateDir}`
      : `${quote(sa)} was ${command === 'disable' ? 'already disabled' : 'not disabled'} in ${stateDir}: ` +
          'nothing changed',
  );
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'run') {
    await runVerb(argv.slice(1));
    return;
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      listen: { type: 'string' },
      ...IDENTITY_OPTIONS,
      'root-dir': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  if (values.help) {
    const [verb] = positionals;
    process.stdout.write(isVerb(verb) ? verbUsage(verb) : USAGE);
    return;
  }
  if (values.version) {
    printVersion();
    return;
  }
  const [command = 'serve', ...rest] = positionals;
  checkOptions(command, values);
  if (command === 'serve' || command === 'init') {
    if (rest.length > 0) throw new UsageError(`unexpected argument ${quote(rest[0] ?? '')}`);
  }
  if (command === 'serve') {
    await serve(values);
    return;
  }
  if (command === 'init') {
    await init(values);
    return;
  }
  const sa = oneServiceAccount(command, rest);
  if (command === 'issue') {
    await issue(values, sa);
    return;
  }
  await disableOrEnable(command === 'disable' ? 'disable' : 'enable', values, sa);
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
