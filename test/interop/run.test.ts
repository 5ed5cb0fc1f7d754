// `alts-emulator run` end to end (issue 17): programs that know nothing of the emulator, each run
// through it as its own service account. Runs in `npm test`: as root every process runs as the
// user nobody, so CI covers the rootless path; skipped with one line where mount namespaces are
// refused, and the go/C-core part where the interop peers are not built (npm run test:interop).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { emulatorArgv, stopAll } from '@grpc-alts/test-support/processes';
import { type Running, runClient, running, start, stop } from './harness.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const EMULATOR = join(root, 'packages/alts-emulator/dist/cli/cli.js');
const GO_PEER = process.env.GO_PEER ?? join(root, 'test/interop/.build/bin/go-peer');
const PY_PEER = process.env.PY_PEER ?? join(root, 'test/interop/peers/python/peer.py');
const TS_PEER = join(root, 'test/dist/interop/ts-peer.js');
/** As root, every process runs as nobody: the rootless path, with real peers. */
const NOBODY_UID = 65534;
const AS_NOBODY = process.geteuid?.() === 0;
const CLIENT_TIMEOUT_MS = 60_000;

const sa = (name: string) => `${name}@run-test.iam.gserviceaccount.com`;
const BACKEND = sa('backend');
const FRONTEND = sa('frontend');
const GO_CLIENT = sa('go-client');
const PY_SERVER = sa('py-server');
const TS_SERVER = sa('ts-server');
const TS_CLIENT = sa('ts-client');

let stateDir = '';
const user = (argv: readonly string[]): string[] =>
  AS_NOBODY
    ? ['setpriv', `--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups', ...argv]
    : [...argv];
const sandboxed = (account: string, argv: readonly string[]): string[] =>
  user(emulatorArgv(EMULATOR, 'run', stateDir, { server: account }, ['--', ...argv]));
/** An emulator for a TS peer, which names its handshaker itself. */
const serve = (account: string) =>
  start(
    `emulator ${account}`,
    user(emulatorArgv(EMULATOR, 'serve', stateDir, { server: account }, ['--listen', '127.0.0.1:0'])),
  );

function unavailable(): string | false {
  // As the tests' processes run: as nobody when root, so a kernel refusing unprivileged user
  // namespaces skips the suite instead of failing it.
  const [file, ...args] = user(['unshare', '--user', '--map-root-user', '--mount', 'true']) as [
    string,
    ...string[],
  ];
  const probe = spawnSync(file, args, { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return `no mount namespaces here (unshare: ${probe.error?.message ?? probe.stderr.trim()})`;
  }
  return false;
}
const skip = unavailable();
const peersMissing = !existsSync(GO_PEER) && `no go-peer at ${GO_PEER} (npm run test:interop builds it)`;
/** Runs a program of ours with no handshaker address from the environment: it must find its own. */
const noHandshakerEnv = (argv: readonly string[]) => [
  'env',
  '-u',
  'ALTS_HANDSHAKER_SERVICE_ADDRESS',
  '-u',
  'GCE_METADATA_HOST',
  process.execPath,
  ...argv,
];

describe('alts-emulator run end to end', { skip }, () => {
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'alts-run-e2e-'));
    if (AS_NOBODY) await chown(stateDir, NOBODY_UID, NOBODY_UID);
  });
  after(async () => {
    await Promise.all(running.map(stop));
    await stopAll();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('our library with no handshaker option (the GCE default, metadata.google.internal.:8080): ot-booking-server and ot-booking-client as two accounts', async () => {
    const server = await start(
      'ot-booking-server',
      sandboxed(
        BACKEND,
        noHandshakerEnv([
          join(root, 'apps/server/dist/main.js'),
          '--host',
          '127.0.0.1',
          '--port',
          '0',
          FRONTEND,
        ]),
      ),
    );
    const ran = await runClient(
      sandboxed(FRONTEND, noHandshakerEnv([join(root, 'apps/client/dist/main.js'), server.address, BACKEND])),
      CLIENT_TIMEOUT_MS,
    );
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'Booking for PT-1204 with DC-3904: 01-Jun-2024 11:30 (Gall bladder stone)');
    assert.match(ran.stderr, new RegExp(`listening on 127\\.0\\.0\\.\\d+:8080 as "${FRONTEND}"`));
    assert.equal(server.log.filter((line) => line.includes(`getBookingInfo from ${FRONTEND}: `)).length, 1);
    assert.ok(
      server.log.some((line) =>
        new RegExp(`role=server local="${BACKEND}" ok peer="${FRONTEND}"`).test(line),
      ),
      `the server's emulator did not handshake as ${BACKEND}:\n${server.log.join('\n')}`,
    );
    await stop(server);
  });

  describe('unmodified grpc-go client and C-core (grpcio) server, each as its own account', {
    skip: peersMissing,
  }, () => {
    const servers = new Map<string, Running>();
    before(async () => {
      const [python, tsEmulator] = await Promise.all([
        start(
          'C-core server',
          sandboxed(PY_SERVER, [
            '/usr/bin/python3',
            PY_PEER,
            'server',
            '--allowed',
            GO_CLIENT,
            '--allowed',
            TS_CLIENT,
          ]),
        ),
        serve(TS_SERVER),
      ]);
      servers.set('core', python);
      servers.set(
        'ts',
        await start(
          'TS server',
          user([
            process.execPath,
            TS_PEER,
            'server',
            '--handshaker',
            tsEmulator.address,
            '--allowed',
            GO_CLIENT,
          ]),
        ),
      );
    });

    const cases = [
      { client: 'Go', server: 'core', account: GO_CLIENT, serverAccount: PY_SERVER },
      { client: 'Go', server: 'ts', account: GO_CLIENT, serverAccount: TS_SERVER },
      { client: 'TS', server: 'core', account: TS_CLIENT, serverAccount: PY_SERVER },
    ] as const;
    for (const c of cases) {
      it(`${c.client} client → ${c.server === 'ts' ? 'TS' : 'C-core'} server: identities checked on both sides`, async () => {
        const server = servers.get(c.server);
        assert.ok(server, `${c.server} server not started`);
        const common = ['--target', server.address, '--target-sa', c.serverAccount, '--calls', '2'];
        let argv: string[];
        if (c.client === 'Go') {
          argv = sandboxed(c.account, [GO_PEER, 'client', ...common]);
        } else {
          const emulator = await serve(c.account);
          argv = user([process.execPath, TS_PEER, 'client', '--handshaker', emulator.address, ...common]);
        }
        const since = server.log.length;
        const ran = await runClient(argv, CLIENT_TIMEOUT_MS);
        assert.equal(ran.code, 0, `${ran.error}\nserver log:\n${server.log.slice(-8).join('\n')}`);
        assert.match(ran.stdout, new RegExp(`^OK calls=2 bytes=\\d+ peer=${c.serverAccount}$`));
        assert.match(ran.stderr, new RegExp(`server peer=${c.serverAccount} local=${c.account} `));
        const calls = server.log.slice(since).filter((line) => / call peer=/.test(line));
        assert.equal(calls.length, 2, server.log.slice(since).join('\n'));
        for (const call of calls) assert.match(call, new RegExp(` call peer=${c.account}( |$)`));
      });
    }
  });
});
