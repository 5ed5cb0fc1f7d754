// What the OT booking programs share on their command lines: --help, --version and a parse error
// as one line and where to look (clig.dev), exit status 2 for every usage error.
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { escapeLogField } from './log-escape.js';

/** The conventional exit status of a usage error (BSD sysexits aside, what shells and getopt use). */
export const EXIT_USAGE = 2;

const STANDARD_OPTIONS = {
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', default: false },
} as const;

type Options = NonNullable<ParseArgsConfig['options']>;
/** What parseArgs is given for a program's `options`. */
type Config<O extends Options> = {
  args: string[];
  allowPositionals: true;
  options: O & typeof STANDARD_OPTIONS;
};
/** The values and positionals of a parsed command line. */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<Config<O>>>;

/**
 * A program of this repository, as {@link parseCommandLine} needs it.
 *
 * @hidden The apps' shared command-line plumbing, not part of the supported API.
 */
export interface Program {
  /** The command's name, first on every message. */
  name: string;
  /** The whole --help text. */
  usage: string;
  /** The program's package.json, for --version. */
  packageJson: URL;
}

/**
 * Writes `<program>: <message>` and where to find the usage to stderr, exits 2: the whole usage
 * would bury the line that matters. The message is escaped (it may quote an argument).
 *
 * @hidden The apps' shared command-line plumbing, not part of the supported API.
 */
export function usageError(program: Pick<Program, 'name'>, message: string): never {
  process.stderr.write(
    `${program.name}: ${escapeLogField(message)}\nRun '${program.name} --help' for usage.\n`,
  );
  process.exit(EXIT_USAGE);
}

/**
 * Parses `args` (default: the process's) with `options` plus -h/--help and --version, positionals
 * allowed. --help and --version print to stdout and exit 0; an unknown or malformed option is a
 * {@link usageError}.
 *
 * @hidden The apps' shared command-line plumbing, not part of the supported API.
 */
export function parseCommandLine<O extends Options>(
  program: Program,
  options: O,
  args: string[] = process.argv.slice(2),
): Parsed<O> {
  const config: Config<O> = { args, allowPositionals: true, options: { ...options, ...STANDARD_OPTIONS } };
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    // parseArgs's first sentence names the bad argument; the rest is advice about positionals.
    const first = (err as Error).message.split('. ')[0] ?? '';
    return usageError(
      program,
      first.replace(/^./, (c) => c.toLowerCase()),
    );
  }
  const standard = parsed.values as { help: boolean; version: boolean };
  if (standard.help) {
    process.stdout.write(program.usage);
    process.exit(0);
  }
  if (standard.version) {
    const { version } = JSON.parse(readFileSync(program.packageJson, 'utf8')) as { version: string };
    process.stdout.write(`${program.name} ${version}\n`);
    process.exit(0);
  }
  return parsed;
}
