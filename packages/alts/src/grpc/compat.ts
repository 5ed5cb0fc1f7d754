import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AltsError } from '../errors.js';

/**
 * The @grpc/grpc-js versions this library works with, as its package.json `peerDependencies`
 * says: 1.14.0 is the first with every hook in {@link GRPC_JS_HOOKS} (docs/grpc-js.md §4), and
 * grpc-js may change `experimental` and underscore APIs in any minor release; CI tests both ends.
 */
export const SUPPORTED_GRPC_JS_RANGE = '~1.14.0';

/** The grpc-js exports the hooks hang on. Loosely typed: an older copy may lack any of them. */
export interface GrpcJsSurface {
  readonly credentials?: { readonly createInsecure?: () => object };
  readonly Server?: { readonly prototype: object };
  readonly ServerInterceptingCall?: { readonly prototype: object };
  readonly experimental?: object;
}

interface Hook {
  readonly name: string;
  readonly present: (grpcJs: GrpcJsSurface) => boolean;
}

function hasMethod(target: object | undefined, name: string): boolean {
  return typeof (target as Record<string, unknown> | undefined)?.[name] === 'function';
}

/**
 * What this library calls or overrides in grpc-js (docs/grpc-js.md §1-3). A missing one would
 * otherwise surface as a TypeError on the first connection or call, far from its cause.
 */
const GRPC_JS_HOOKS: readonly Hook[] = [
  {
    // Abstract on ChannelCredentials, so only a concrete credentials object shows whether
    // this grpc-js asks credentials for a connector (before 1.13.0 it asked for TLS options).
    name: 'ChannelCredentials._createSecureConnector',
    present: (g) => hasMethod(g.credentials?.createInsecure?.(), '_createSecureConnector'),
  },
  { name: 'experimental.uriToString', present: (g) => hasMethod(g.experimental, 'uriToString') },
  { name: 'experimental.trace', present: (g) => hasMethod(g.experimental, 'trace') },
  {
    name: 'Server.createConnectionInjector',
    present: (g) => hasMethod(g.Server?.prototype, 'createConnectionInjector'),
  },
  {
    name: 'experimental.createServerCredentialsWithInterceptors',
    present: (g) => hasMethod(g.experimental, 'createServerCredentialsWithInterceptors'),
  },
  {
    name: 'ServerInterceptingCall.getAuthContext',
    present: (g) => hasMethod(g.ServerInterceptingCall?.prototype, 'getAuthContext'),
  },
  {
    name: 'ServerInterceptingCall.getConnectionInfo',
    present: (g) => hasMethod(g.ServerInterceptingCall?.prototype, 'getConnectionInfo'),
  },
];

/** One copy of grpc-js on disk: its version and its package directory. */
export interface GrpcJsCopy {
  readonly version: string;
  readonly directory: string;
}

/** Throws AltsError INVALID_ARGUMENT naming the installed and supported versions if a hook is missing. */
export function checkGrpcJsHooks(grpcJs: GrpcJsSurface, installed: GrpcJsCopy): void {
  const missing = GRPC_JS_HOOKS.filter((hook) => !hook.present(grpcJs)).map((hook) => hook.name);
  if (missing.length === 0) return;
  throw new AltsError(
    'INVALID_ARGUMENT',
    `@grpc-alts/alts needs @grpc/grpc-js ${SUPPORTED_GRPC_JS_RANGE}, but the installed ` +
      `${installed.version} (${installed.directory}) lacks ${missing.join(', ')}. ` +
      `Install a supported version: npm install @grpc/grpc-js@${SUPPORTED_GRPC_JS_RANGE}`,
  );
}

/** grpc-js's entry point as Node's module cache names it (`main` of its package.json). */
const GRPC_JS_ENTRY = /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/]index\.js$/;
/** From the entry point up to the package directory: build/src/index.js. */
const ENTRY_DEPTH = 3;

function readCopy(entry: string): GrpcJsCopy {
  let directory = entry;
  for (let i = 0; i < ENTRY_DEPTH; i++) directory = dirname(directory);
  try {
    const { version } = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    if (typeof version === 'string') return { version, directory };
  } catch {
    // A copy without a readable manifest (vendored, bundled) still deserves its diagnostic.
  }
  return { version: '(version unknown)', directory };
}

/**
 * The entry points of loaded grpc-js copies other than ours. grpc-js is CommonJS, so every copy
 * in the process, imported or required, is in the module cache; a copy whose ChannelCredentials
 * is not ours rejects our credentials (`instanceof`, docs/grpc-js.md §1.3).
 */
export function findOtherGrpcJsCopies(cache: NodeJS.Require['cache'], ours: unknown): string[] {
  return Object.entries(cache)
    .filter(([path, module]) => {
      const exported = module?.exports as { ChannelCredentials?: unknown } | undefined;
      return GRPC_JS_ENTRY.test(path) && exported?.ChannelCredentials !== ours;
    })
    .map(([path]) => path);
}

/** The code of the process warning about a second grpc-js copy (for `process.on('warning')` filters). */
export const SECOND_GRPC_JS_WARNING = 'GRPC_ALTS_SECOND_GRPC_JS';

const requireHere = createRequire(import.meta.url);
let ours: GrpcJsCopy | undefined;
const reportedCopies = new Set<string>();

/**
 * Run where credentials and servers are created: fails there, with the versions, when the
 * grpc-js this library resolves lacks a hook, and warns once per other loaded grpc-js copy.
 */
export function assertGrpcJsCompatible(): void {
  if (!ours) {
    const copy = readCopy(requireHere.resolve('@grpc/grpc-js'));
    checkGrpcJsHooks(grpc, copy);
    ours = copy;
  }
  for (const entry of findOtherGrpcJsCopies(requireHere.cache, grpc.ChannelCredentials)) {
    if (reportedCopies.has(entry)) continue;
    reportedCopies.add(entry);
    const other = readCopy(entry);
    const warning = new Error(
      `@grpc-alts/alts uses @grpc/grpc-js ${ours.version} at ${ours.directory}, but a second copy, ` +
        `${other.version} at ${other.directory}, is loaded too. Clients made with that copy (such as ` +
        'generated clients that import it) refuse ALTS credentials ("Channel credentials must be a ' +
        'ChannelCredentials object"). Make the application resolve one copy: see ' +
        '`npm ls @grpc/grpc-js`, then `npm dedupe`.',
    );
    warning.name = 'Warning';
    // Emitted now, not on the next tick as process.emitWarning does: the usual next step is the
    // other copy's TypeError, often uncaught, and a deferred warning would die unprinted with the
    // process. Node's own 'warning' listener prints it (and honours --no-warnings).
    process.emit('warning', Object.assign(warning, { code: SECOND_GRPC_JS_WARNING }));
  }
}
