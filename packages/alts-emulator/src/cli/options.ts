// Command-line options shared by the commands that start an emulator (`serve`, and `run`, which
// starts one for the command it runs): which identity it speaks for, from which bundle or state
// directory.
import type { EmulatorOptions } from '../emulator.js';
import { defaultStateDir } from '../state/state-dir.js';

/** A bad flag or argument: one line on stderr and exit 2 (cli.ts). */
export class UsageError extends Error {}

/** The parseArgs options that choose an emulator's identities and state. */
export const IDENTITY_OPTIONS = {
  'service-account': { type: 'string' },
  'client-service-account': { type: 'string' },
  bundle: { type: 'string' },
  'client-bundle': { type: 'string' },
  'state-dir': { type: 'string' },
} as const;

/** What {@link identityOptions} returns: the part of {@link EmulatorOptions} the flags choose. */
export type IdentityOptions = Pick<
  EmulatorOptions,
  'serviceAccount' | 'clientServiceAccount' | 'bundle' | 'clientBundle' | 'stateDir'
>;

type Values = Record<string, string | boolean | undefined>;

function stringOption(values: Values, name: keyof typeof IDENTITY_OPTIONS): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The state directory the flags name, or the default one. */
export function stateDirOption(values: Values): string {
  return stringOption(values, 'state-dir') ?? defaultStateDir();
}

/**
 * The emulator options chosen by `--service-account`, `--client-service-account`, `--bundle`,
 * `--client-bundle` and `--state-dir` (parsed with {@link IDENTITY_OPTIONS}). Throws a
 * {@link UsageError} when neither an account nor a bundle is given, or a client bundle alone.
 */
export function identityOptions(values: Values, command: string): IdentityOptions {
  const serviceAccount = stringOption(values, 'service-account');
  const clientServiceAccount = stringOption(values, 'client-service-account');
  const bundle = stringOption(values, 'bundle');
  const clientBundle = stringOption(values, 'client-bundle');
  if (clientBundle !== undefined && bundle === undefined) {
    throw new UsageError('--client-bundle needs --bundle too');
  }
  if (serviceAccount === undefined && bundle === undefined) {
    throw new UsageError(`${command} needs --service-account <sa> or --bundle <file>`);
  }
  return {
    stateDir: stateDirOption(values),
    ...(serviceAccount === undefined ? {} : { serviceAccount }),
    ...(clientServiceAccount === undefined ? {} : { clientServiceAccount }),
    ...(bundle === undefined ? {} : { bundle }),
    ...(clientBundle === undefined ? {} : { clientBundle }),
  };
}
