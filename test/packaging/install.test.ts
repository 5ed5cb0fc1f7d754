// The published packages as a user gets them: npm pack output, installed into a project outside
// the workspace next to @grpc/grpc-js from the registry (or npm's cache), making one ALTS call
// from an ES module and one from a CommonJS file, and type-checked under each module mode.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { npmEnvironment, type PackedPackage, packAll, REPO_ROOT } from './pack.js';
import { documentedOutput, readmeBlocks, readmeFile, shellCommands } from './readme-commands.js';

const execFileAsync = promisify(execFile);

const CLIENT_SA = 'frontend@install-check.iam.gserviceaccount.com';
const SERVER_SA = 'backend@install-check.iam.gserviceaccount.com';
/** npm install from a warm cache takes seconds; a cold one downloads grpc-js and its few deps. */
const INSTALL_TIMEOUT_MS = 120_000;
/** One emulator, one server, one call: well under this even on a loaded machine. */
const APP_TIMEOUT_MS = 60_000;
/**
 * npm's error codes for "cannot reach the registry" (and, offline, "not in the cache"). With peers
 * to resolve, npm reports a failed fetch as ERESOLVE: only its http log names the cause.
 */
const NO_REGISTRY =
  /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED)\b/;

async function installedVersion(name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8'));
  return (manifest as { version: string }).version;
}

// One call through the installed packages: the emulator from @grpc-alts/alts-emulator, the server
// from @grpc-alts/ot-booking (its ALTS server and authorization interceptor), the peer's identity
// read back with getAltsContext, printed as one JSON line. Both apps run this (ES module: at top
// level; CommonJS: in an async main); they differ in how they load the packages and make the client.
function serveAndCall(flavour: 'esm' | 'cjs', makeClient: string): string {
  return `
const stateDir = await mkdtemp(join(tmpdir(), 'alts-install-${flavour}-'));
const emulator = await startEmulator({ serviceAccount: '${SERVER_SA}', clientServiceAccount: '${CLIENT_SA}', stateDir });
const server = createOtBookingServer(
  { getBookingInfo: (call, done) => done(null, { bookingDate: '${flavour}', condition: getAltsContext(call).peerServiceAccount }) },
  { handshakerServiceAddress: emulator.address, clientServiceAccounts: ['${CLIENT_SA}'] },
);
const port = await server.listen('127.0.0.1:0');
let serverAccount;
${makeClient}
const reply = await new Promise((resolve, reject) =>
  client.getBookingInfo({ patientID: 'PT-1', doctorID: 'DC-2', description: '' }, (e, r) => (e ? reject(e) : resolve(r))),
);
console.log(JSON.stringify({ ...reply, serverAccount }));
client.close();
server.forceShutdown();
await emulator.stop();
await rm(stateDir, { recursive: true });
`;
}

const ESM_APP = `
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAltsContext } from '@grpc-alts/alts';
import { startEmulator } from '@grpc-alts/alts-emulator';
import { createOtBookingClient, createOtBookingServer } from '@grpc-alts/ot-booking';
${serveAndCall(
  'esm',
  `const client = createOtBookingClient('127.0.0.1:' + port, {
  handshakerServiceAddress: emulator.address,
  targetServiceAccounts: ['${SERVER_SA}'],
  onHandshake: (context) => { serverAccount = context.peerServiceAccount; },
});`,
)}`;

// The same from CommonJS, with a client class made by the application's own grpc-js: our
// credentials must pass its instanceof check, so both must be one copy.
const CJS_APP = `
const { mkdtemp, rm } = require('node:fs/promises');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const grpc = require('@grpc/grpc-js');
const { createAltsChannelCredentials, getAltsContext } = require('@grpc-alts/alts');
const { startEmulator } = require('@grpc-alts/alts-emulator');
const { createOtBookingServer, OtBookingServiceService } = require('@grpc-alts/ot-booking');

async function main() {${serveAndCall(
  'cjs',
  `const Client = grpc.makeGenericClientConstructor(OtBookingServiceService, 'OtBookingService');
const credentials = createAltsChannelCredentials({
  handshakerServiceAddress: emulator.address,
  targetServiceAccounts: ['${SERVER_SA}'],
  onHandshake: (context) => { serverAccount = context.peerServiceAccount; },
});
const client = new Client('127.0.0.1:' + port, credentials);`,
)}}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

// Types as a user's compiler sees them: what each package exports, and that our credentials are
// the application's grpc-js ChannelCredentials.
const TYPES_SOURCE = `
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { AltsError, createAltsChannelCredentials, type AltsPeerContext } from '@grpc-alts/alts';
import { startEmulator, type RunningEmulator } from '@grpc-alts/alts-emulator';
import { HandshakerReq } from '@grpc-alts/handshaker-proto';
import { createOtBookingClient, type OtBookingServiceClient } from '@grpc-alts/ot-booking';

export const creds: ChannelCredentials = credentials.combineChannelCredentials(createAltsChannelCredentials({}));
export const client: OtBookingServiceClient = createOtBookingClient('localhost:1');
export const emulator: Promise<RunningEmulator> = startEmulator({ serviceAccount: 'a', stateDir: '/nonexistent' });
export const request: HandshakerReq = HandshakerReq.fromPartial({});
export const code: string = new AltsError('INTERNAL', 'x').code;
export type Context = AltsPeerContext['peerServiceAccount'];
`;

const COMPILER = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const STRICT = { strict: true, noEmit: true, skipLibCheck: false, target: 'es2022', types: ['node'] };
/** Module modes a consumer may compile in, and the files that mode can load us from. */
const TYPE_MODES = {
  node16: {
    compilerOptions: { ...STRICT, module: 'node16', moduleResolution: 'node16' },
    files: ['types.mts'],
  },
  // require(esm) from a CommonJS file type-checks from TypeScript 5.8 under nodenext.
  nodenext: {
    compilerOptions: { ...STRICT, module: 'nodenext', moduleResolution: 'nodenext' },
    files: ['types.mts', 'types.cts'],
  },
  bundler: {
    compilerOptions: { ...STRICT, module: 'preserve', moduleResolution: 'bundler' },
    files: ['types.mts'],
  },
};

/** Resolves with the address of the `READY <address>` line `child` prints, or rejects when it exits first. */
function readyAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before READY:\n${stderr}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const ready = /^READY (\S+)$/.exec(line)?.[1];
      if (ready) resolve(ready);
    });
  });
}

/** Stops a child started in a process group of its own (npx runs the bin as a grandchild). */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(-child.pid, 'SIGTERM');
  await exited;
}

function runNode(cwd: string, file: string) {
  return execFileAsync(process.execPath, [file], { cwd, timeout: APP_TIMEOUT_MS });
}

describe('packed packages', () => {
  let work: string;
  let project: string;
  let packed: PackedPackage[];
  /** Why the install could not run (no registry), or undefined once it did. */
  let installSkipped: string | undefined = 'the install did not run';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'grpc-alts-install-'));
    assert.ok(
      relative(REPO_ROOT, work).startsWith('..'),
      `${work} must be outside the workspace ${REPO_ROOT}`,
    );
    project = join(work, 'app');
    await mkdir(project);
    packed = packAll(work);
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('each has README, the LICENSE, repository, engines, require and import, and maps that resolve', async () => {
    const license = await readFile(join(REPO_ROOT, 'LICENSE'), 'utf8');
    const alts = packed.find((p) => p.name === '@grpc-alts/alts');
    assert.ok(alts, 'packs @grpc-alts/alts');
    const supportedGrpcJs = JSON.parse(
      await readFile(join(REPO_ROOT, alts.workspace, 'package.json'), 'utf8'),
    ).peerDependencies['@grpc/grpc-js'];
    for (const pkg of packed) {
      const dir = join(REPO_ROOT, pkg.workspace);
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
      const shipped = new Set(pkg.files);
      assert.ok(shipped.has('README.md'), `${pkg.name} ships a README`);
      assert.ok(shipped.has('LICENSE'), `${pkg.name} ships the LICENSE`);
      assert.equal(
        await readFile(join(dir, 'LICENSE'), 'utf8'),
        license,
        `${pkg.name}/LICENSE is the root LICENSE`,
      );
      assert.equal(manifest.repository?.directory, pkg.workspace, `${pkg.name} names its repository`);
      assert.equal(manifest.engines?.node, '^20.19.0 || >=22.12.0', `${pkg.name}: engines with require(esm)`);
      assert.equal(manifest.exports?.['.']?.default, './dist/index.js', `${pkg.name}: one entry for both`);
      assert.equal(
        manifest.peerDependencies?.['@grpc/grpc-js'],
        supportedGrpcJs,
        `${pkg.name}: grpc-js range`,
      );
      const maps = pkg.files.filter((f) => f.endsWith('.map'));
      assert.ok(maps.length > 0, `${pkg.name} ships source maps`);
      for (const map of maps) {
        const { sources } = JSON.parse(await readFile(join(dir, map), 'utf8')) as { sources: string[] };
        for (const source of sources) {
          const path = relative(dir, join(dir, map, '..', source));
          assert.ok(shipped.has(path), `${pkg.name}/${map} points at ${path}, which is not shipped`);
        }
      }
      assert.equal(
        pkg.files.filter((f) => /\.test\./.test(f)).length,
        0,
        `${pkg.name} ships no tests or test helpers: ${pkg.files.filter((f) => /\.test\./.test(f))}`,
      );
      const installed = {
        ...manifest.dependencies,
        ...manifest.peerDependencies,
        ...manifest.optionalDependencies,
      };
      assert.ok(
        !('@grpc-alts/test-support' in installed),
        `${pkg.name}: the private @grpc-alts/test-support is a devDependency at most`,
      );
      const benchmarks = pkg.files.filter((f) => /(^|\/)bench(\/|-)/.test(f));
      assert.deepEqual(benchmarks, [], `${pkg.name} ships no benchmark`);
    }
  });

  it('install outside the workspace', { timeout: INSTALL_TIMEOUT_MS }, async (t: TestContext) => {
    const grpcJs = await installedVersion('@grpc/grpc-js');
    const dependencies = Object.fromEntries([
      ...packed.map((p) => [p.name, `file:${p.tarball}`]),
      ['@grpc/grpc-js', grpcJs],
      ['@types/node', await installedVersion('@types/node')],
    ]);
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'grpc-alts-install-check', private: true, dependencies }, null, 2),
    );
    try {
      await execFileAsync(
        'npm',
        [
          'install',
          '--prefer-offline',
          '--ignore-scripts',
          '--no-audit',
          '--no-fund',
          '--fetch-retries=1',
          '--loglevel=http',
        ],
        { cwd: project, env: npmEnvironment(), timeout: INSTALL_TIMEOUT_MS },
      );
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '');
      const offline = NO_REGISTRY.exec(stderr);
      if (offline) {
        installSkipped =
          `npm could not fetch @grpc/grpc-js ${grpcJs} and its dependencies from the registry or ` +
          `its cache (${offline[1]}): this check needs the network or a warm npm cache`;
        t.skip(installSkipped);
        return;
      }
      throw error;
    }
    installSkipped = undefined;
    const { stdout } = await execFileAsync('npm', ['ls', '--parseable', '--all', '@grpc/grpc-js'], {
      cwd: project,
      env: npmEnvironment(),
    });
    assert.equal(
      stdout.trim().split('\n').length,
      1,
      `one grpc-js copy for the app and our packages:\n${stdout}`,
    );
  });

  for (const [format, file, source] of [
    ['ES module', 'app.mjs', ESM_APP],
    ['CommonJS', 'app.cjs', CJS_APP],
  ] as const) {
    it(`makes an ALTS call from ${format}`, { timeout: APP_TIMEOUT_MS }, async (t: TestContext) => {
      if (installSkipped) return t.skip(installSkipped);
      await writeFile(join(project, file), source);
      const { stdout, stderr } = await runNode(project, file);
      assert.deepEqual(JSON.parse(stdout), {
        bookingDate: format === 'CommonJS' ? 'cjs' : 'esm',
        condition: CLIENT_SA,
        serverAccount: SERVER_SA,
      });
      assert.doesNotMatch(stderr, /GRPC_ALTS_SECOND_GRPC_JS/);
    });
  }

  it('runs alts-emulator with the npx commands of its README: in the project, and from an empty folder with the tarballs', {
    timeout: INSTALL_TIMEOUT_MS,
  }, async (t: TestContext) => {
    if (installSkipped) return t.skip(installSkipped);
    const emulator = packed.find((p) => p.name === '@grpc-alts/alts-emulator');
    const proto = packed.find((p) => p.name === '@grpc-alts/handshaker-proto');
    assert.ok(emulator && proto, 'packs the emulator and the handshaker contract');
    const commands = shellCommands(readmeBlocks(emulator.workspace)).filter(([command]) => command === 'npx');
    assert.ok(
      commands.some((c) => c.includes('--package')),
      'the README names the package for npx',
    );
    const npx = (cwd: string, args: string[]) =>
      execFileAsync('npx', args, { cwd, env: npmEnvironment(), timeout: APP_TIMEOUT_MS });
    for (const [, ...args] of commands) {
      const { stdout } = await npx(project, args);
      assert.equal(stdout.trim(), `alts-emulator ${emulator.version}`, `npx ${args.join(' ')}`);
    }
    // Until the packages are on the registry, their tarballs stand in for it; grpc-js comes from
    // the registry or the cache the install warmed. --yes: without a terminal npx asks no question
    // and cancels.
    const empty = join(work, 'empty');
    await mkdir(empty);
    for (const [, ...args] of commands.filter((c) => c.includes('--package'))) {
      const fromTarballs: string[] = args.flatMap((arg: string, i: number): string[] =>
        args[i - 1] === '--package' && arg === emulator.name
          ? [emulator.tarball, '--package', proto.tarball]
          : [arg],
      );
      const { stdout } = await npx(empty, ['--yes', '--prefer-offline', ...fromTarballs]);
      assert.equal(stdout.trim(), `alts-emulator ${emulator.version}`, `npx ${fromTarballs.join(' ')}`);
    }
  });

  // Where a README's example has a server and a client on one machine, its one emulator needs
  // both identities: the client's with --client-service-account.
  for (const [workspace, bothSides] of [
    ['packages/alts', true],
    ['packages/ot-booking', true],
    ['packages/handshaker-proto', false],
  ] as const) {
    it(`runs the ${workspace} README example on the handshaker its README starts`, {
      timeout: APP_TIMEOUT_MS,
    }, async (t: TestContext) => {
      if (installSkipped) return t.skip(installSkipped);
      const blocks = readmeBlocks(workspace);
      await writeFile(join(project, 'example.mjs'), readmeFile(blocks, 'example.mjs'));
      const commands = shellCommands(blocks);
      const start = commands.find(([command]) => command === 'npx');
      const example = commands.find((c) => c.slice(-2).join(' ') === 'node example.mjs');
      assert.ok(start && example, 'the README starts a handshaker and runs example.mjs');
      assert.equal(
        start.includes('--client-service-account'),
        bothSides,
        'the client identity, where needed',
      );
      // A free port instead of the README's 8080, and a state directory of the test's own.
      const args = start.slice(1).map((arg, i, all) => (all[i - 1] === '--listen' ? '127.0.0.1:0' : arg));
      const emulator = spawn('npx', args, {
        cwd: project,
        env: { ...npmEnvironment(), XDG_STATE_HOME: await mkdtemp(join(work, 'state-')) },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        const address = await readyAddress(emulator);
        const variables = example.slice(0, -2).map((assignment) => assignment.split('=', 1)[0] ?? '');
        assert.deepEqual(variables, ['ALTS_HANDSHAKER_SERVICE_ADDRESS']);
        const { stdout } = await execFileAsync(process.execPath, ['example.mjs'], {
          cwd: project,
          env: { ...process.env, ALTS_HANDSHAKER_SERVICE_ADDRESS: address },
          timeout: APP_TIMEOUT_MS,
        });
        assert.deepEqual(stdout.trim().split('\n'), documentedOutput(blocks, 'node example.mjs'));
      } finally {
        await stopGroup(emulator);
      }
    });
  }

  for (const [mode, tsconfig] of Object.entries(TYPE_MODES)) {
    it(`type-checks under moduleResolution ${mode}`, { timeout: APP_TIMEOUT_MS }, async (t: TestContext) => {
      if (installSkipped) return t.skip(installSkipped);
      await writeFile(join(project, 'types.mts'), TYPES_SOURCE);
      await writeFile(join(project, 'types.cts'), TYPES_SOURCE);
      await writeFile(join(project, `tsconfig.${mode}.json`), JSON.stringify(tsconfig));
      try {
        await execFileAsync(process.execPath, [COMPILER, '-p', `tsconfig.${mode}.json`], {
          cwd: project,
          timeout: APP_TIMEOUT_MS,
        });
      } catch (error) {
        assert.fail(`tsc (${mode}) failed:\n${(error as { stdout?: string }).stdout ?? error}`);
      }
    });
  }
});
