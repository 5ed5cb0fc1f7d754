// The ALTS interop matrix (issue 8): our library (ts-peer) against grpc-go 1.33 (go-peer) and gRPC
// C-core 1.51 (peer.py on grpcio), each cell a node:test test, every handshake through the
// project's emulator. Both foreign libraries refuse ALTS off Google Cloud and dial their handshaker
// at metadata.google.internal.:8080, so every go and C-core peer runs unmodified through
// `alts-emulator run` (its own emulator, the identities of its "VM", one shared trust root); the
// TS peers name an emulator with --handshaker. `npm run test:interop` (run-interop.sh) installs
// and builds everything and runs:
//
//   node --test --test-reporter=tap test/dist/interop/matrix.js
//
// Environment: INTEROP_LONG=1 adds the long rekey cells; GO_PEER, PY_PEER, EMULATOR override the
// peers' paths (defaults: test/interop/.build/bin/go-peer, peers/python/peer.py, the built
// emulator). Where the peers or `alts-emulator run` are missing every cell is skipped with the
// reason.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { emulatorArgv, runUnavailable, stopAll } from '@grpc-alts/test-support/processes';
import { type Running, runClient, running, start, stop } from './harness.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const here = join(root, 'test/interop');
const GO_PEER =
  process.env.GO_PEER ?? join(process.env.ALTS_INTEROP_BUILD ?? join(here, '.build'), 'bin/go-peer');
const PY_PEER = process.env.PY_PEER ?? join(here, 'peers/python/peer.py');
const TS_PEER = join(root, 'test/dist/interop/ts-peer.js');
const EMULATOR = process.env.EMULATOR ?? join(root, 'packages/alts-emulator/dist/cli/cli.js');
const LONG = process.env.INTEROP_LONG === '1';

/** Two "VMs": their identities, and the emulator TS peers use as their handshaker (set in before). */
const E1 = {
  address: '',
  server: 'interop-server@alts-test.iam.gserviceaccount.com',
  client: 'interop-client@alts-test.iam.gserviceaccount.com',
};
const E2 = {
  address: '',
  server: 'interop-server2@alts-test.iam.gserviceaccount.com',
  client: 'interop-client2@alts-test.iam.gserviceaccount.com',
};
type Vm = typeof E1;
/** The trust root every emulator shares, `serve` and `run` alike. */
const stateDir = mkdtempSync(join(tmpdir(), 'alts-interop-'));

/** Why the matrix cannot run here, if it cannot: no peers, or no sandbox for `alts-emulator run`. */
function unavailable(): string | false {
  const why = !existsSync(GO_PEER)
    ? `no go-peer at ${GO_PEER}: run npm run test:interop`
    : runUnavailable(EMULATOR, stateDir, E1.server);
  if (why) rmSync(stateDir, { recursive: true, force: true });
  return why ?? false;
}

/** A go or C-core peer, started unmodified through `alts-emulator run` as the VM's identities. */
const sandboxed = (vm: Vm, command: readonly string[]): string[] =>
  emulatorArgv(EMULATOR, 'run', stateDir, vm, ['--', ...command]);
const NOBODY = 'nobody@alts-test.iam.gserviceaccount.com';
const WRONG_TARGET = 'someone-else@alts-test.iam.gserviceaccount.com';

const SIZE = 100 * 1024; // >= 70 KB: many records each way (go 4 KiB frames, C-core/TS 16-128 KiB)
const CALLS = 4;
const MIB = 1024 * 1024;
/**
 * Rekey cells: 1100 × 1 MiB each way. At 16 KiB frames (16 360 payload bytes) that is > 70 500
 * frames per direction, past the 65 536-frame rekey boundary; at grpc-go's 4 KiB frames ~283 000.
 */
const REKEY_CALLS = 1100;
/** 270 × 1 MiB from grpc-go (4 KiB frames, 4 072 payload bytes) is ~69 500 frames. */
const REKEY_IN_CALLS = 270;

type Kind = 'ts' | 'go' | 'core';
const LABEL: Record<Kind, string> = { ts: 'TS', go: 'Go', core: 'C-core' };

/** C-core servers are E1, other servers E2, so that each cell joins two different "VMs". */
const serverVm = (server: Kind): Vm => (server === 'core' ? E1 : E2);
const clientVm = (_client: Kind, server: Kind): Vm => (serverVm(server) === E1 ? E2 : E1);

/** Why a client cannot be asked to check a target service account, if it cannot. */
function wrongTargetSkip(client: Kind, server: Kind): string | undefined {
  if (client === 'core') {
    return 'grpcio 1.51 cannot set target service accounts (alts_channel_credentials(service_accounts=[...]) raises TypeError for str and bytes)';
  }
  if (client === 'go' && server === 'go') {
    return 'grpc-go 1.33 ignores HandshakerResp.status after the first response on both sides, so a go client and a go server wait for each other until the client deadline (DEADLINE_EXCEEDED); no prompt rejection to assert';
  }
  return undefined;
}

// ---- peers' command lines ----

const allowFlags = (allowed: readonly string[]) => allowed.flatMap((sa) => ['--allowed', sa]);

function serverCommand(kind: Kind, allowed: readonly string[], extra: readonly string[] = []): string[] {
  const listen = ['--listen', '127.0.0.1:0'];
  const vm = serverVm(kind);
  switch (kind) {
    case 'ts':
      return [
        process.execPath,
        TS_PEER,
        'server',
        ...listen,
        '--handshaker',
        vm.address,
        ...allowFlags(allowed),
        ...extra,
      ];
    case 'go':
      return sandboxed(vm, [GO_PEER, 'server', ...listen, ...allowFlags(allowed), ...extra]);
    case 'core':
      return sandboxed(vm, [
        '/usr/bin/python3',
        PY_PEER,
        'server',
        ...listen,
        ...allowFlags(allowed),
        ...extra,
      ]);
  }
}

interface ClientRun {
  target: string;
  vm: Vm;
  size: number;
  calls: number;
  targetSas?: readonly string[];
  timeoutS: number;
  extra?: readonly string[];
}

function clientCommand(kind: Kind, run: ClientRun): string[] {
  const common = [
    '--target',
    run.target,
    ...(run.targetSas ?? []).flatMap((sa) => ['--target-sa', sa]),
    '--size',
    String(run.size),
    '--calls',
    String(run.calls),
    ...(run.extra ?? []),
  ];
  switch (kind) {
    case 'ts':
      return [
        process.execPath,
        TS_PEER,
        'client',
        '--handshaker',
        run.vm.address,
        ...common,
        '--timeout',
        `${run.timeoutS}s`,
      ];
    case 'go':
      // No --handshaker: grpc-go's default, metadata.google.internal.:8080, is the sandbox's emulator.
      return sandboxed(run.vm, [GO_PEER, 'client', ...common, '--timeout', `${run.timeoutS}s`]);
    case 'core':
      return sandboxed(run.vm, [
        '/usr/bin/python3',
        PY_PEER,
        'client',
        ...common,
        '--timeout',
        String(run.timeoutS),
      ]);
  }
}

// ---- checks ----

interface CallLine {
  peer: string;
  local: string | undefined;
}

/** The `call peer=<sa> [local=<sa>]` lines a server logged from line `since` on. */
function callsLogged(server: Running, since: number): CallLine[] {
  const calls: CallLine[] = [];
  for (const line of server.log.slice(since)) {
    const match = / call peer=(\S*)(?: local=(\S+))?/.exec(line);
    if (match) calls.push({ peer: match[1] ?? '', local: match[2] });
  }
  return calls;
}

/** Waits (≤ 3 s) until the server's log pipe has delivered `count` call lines since `since`. */
async function waitForCalls(server: Running, since: number, count: number): Promise<CallLine[]> {
  const deadline = Date.now() + 3_000;
  let calls = callsLogged(server, since);
  while (calls.length < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    calls = callsLogged(server, since);
  }
  return calls;
}

const tail = (proc: Running) => proc.log.slice(-8).join('\n');

/**
 * One echo cell: `calls` × `size`-byte descriptions from a `client` to `server`, then the
 * identities: the client saw the server's service account (where its library exposes it) and
 * logged its own; the server logged every call with the client's account (and its own).
 */
async function echoCell(
  t: TestContext,
  client: Kind,
  server: Running,
  serverKind: Kind,
  run: ClientRun,
  timeoutMs = 60_000,
): Promise<void> {
  const since = server.log.length;
  const ran = await runClient(clientCommand(client, run), timeoutMs);
  const context = `client stderr:\n${ran.stderr.slice(-2000)}\nserver ${server.name} log:\n${tail(server)}`;
  assert.equal(ran.code, 0, `client exit ${ran.code}: ${ran.error}\n${context}`);
  const wantSa = serverVm(serverKind).server;
  const wantClientSa = run.vm.client;
  if (client === 'core') {
    assert.equal(ran.stdout, `OK calls=${run.calls} bytes=${run.size} peer=-`);
    t.diagnostic('server identity not checked on the client: grpcio exposes no auth context to clients');
  } else {
    assert.equal(ran.stdout, `OK calls=${run.calls} bytes=${run.size} peer=${wantSa}`, context);
    assert.ok(
      ran.stderr.includes(`server peer=${wantSa} local=${wantClientSa} `),
      `the client did not log its own identity ${wantClientSa}\n${context}`,
    );
  }
  const calls = await waitForCalls(server, since, run.calls);
  assert.equal(calls.length, run.calls, `server logged ${calls.length} calls, want ${run.calls}\n${context}`);
  for (const call of calls) {
    assert.equal(call.peer, wantClientSa, `server saw the client as ${call.peer}\n${context}`);
    // The python server logs no local identity (grpcio's auth context has only the peer's).
    if (serverKind !== 'core') assert.equal(call.local, wantSa, `server's own identity\n${context}`);
  }
  t.diagnostic(`${ran.stdout} in ${ran.ms} ms`);
}

// ---- the matrix ----

const CELLS: ReadonlyArray<readonly [client: Kind, server: Kind]> = [
  ['ts', 'go'],
  ['go', 'ts'],
  ['ts', 'core'],
  ['core', 'ts'],
  ['ts', 'ts'],
  ['go', 'go'],
  ['core', 'core'],
  ['go', 'core'],
  ['core', 'go'],
];
const KINDS: readonly Kind[] = ['ts', 'go', 'core'];

describe('ALTS interop matrix', { skip: unavailable() }, () => {
  /** Per server kind: the server that admits the matrix's clients, and one that admits nobody. */
  const servers = new Map<Kind, Running>();
  const denying = new Map<Kind, Running>();
  const rekeyServers = new Map<string, Running>();

  before(async () => {
    const emulator = (name: string, vm: Vm) =>
      start(name, emulatorArgv(EMULATOR, 'serve', stateDir, vm, ['--listen', '127.0.0.1:0']));
    const [e1, e2] = await Promise.all([emulator('emulator E1', E1), emulator('emulator E2', E2)]);
    E1.address = e1.address;
    E2.address = e2.address;
    const starting: Promise<unknown>[] = [];
    for (const kind of KINDS) {
      // Exactly the accounts of the clients of this server's cells.
      const allowed = [
        ...new Set(CELLS.filter(([, s]) => s === kind).map(([c]) => clientVm(c, kind).client)),
      ];
      starting.push(
        start(`${LABEL[kind]} server`, serverCommand(kind, allowed)).then((p) => servers.set(kind, p)),
        start(`${LABEL[kind]} server (admits nobody)`, serverCommand(kind, [NOBODY])).then((p) =>
          denying.set(kind, p),
        ),
      );
    }
    if (LONG) {
      // 16 KiB frames from the TS server to a C-core client (C-core writes what the result says).
      starting.push(
        start(
          'TS server, 16 KiB frames',
          serverCommand('ts', [E1.client], ['--max-frame-size', '16384']),
        ).then((p) => rekeyServers.set('ts16k', p)),
      );
    }
    await Promise.all(starting);
  });

  after(async () => {
    // Peers, then the emulators they talk to, then clients left by a timed-out test; each by its pid.
    const emulators = running.filter((p) => p.name.startsWith('emulator'));
    await Promise.all(running.filter((p) => !emulators.includes(p)).map(stop));
    await Promise.all(emulators.map(stop));
    await stopAll();
    await rm(stateDir, { recursive: true, force: true });
  });

  const must = <K, T>(map: Map<K, T>, key: K): T => {
    const value = map.get(key);
    assert.ok(value, `${key} was not started`);
    return value;
  };

  for (const [client, server] of CELLS) {
    const cell = `${LABEL[client]} client → ${LABEL[server]} server`;
    describe(cell, () => {
      const vm = clientVm(client, server);

      it(
        `${cell}: ${CALLS} × 100 KiB descriptions echoed; identities checked on both sides`,
        { timeout: 90_000 },
        (t) =>
          echoCell(t, client, must(servers, server), server, {
            target: must(servers, server).address,
            vm,
            size: SIZE,
            calls: CALLS,
            targetSas: client === 'core' ? [] : [serverVm(server).server],
            timeoutS: 30,
          }),
      );

      it(
        `${cell}: 2 × 1 MiB descriptions echoed (each message spans many records)`,
        { timeout: 90_000 },
        (t) =>
          echoCell(t, client, must(servers, server), server, {
            target: must(servers, server).address,
            vm,
            size: MIB,
            calls: 2,
            timeoutS: 30,
          }),
      );

      it(`${cell}: an unauthorized client account is rejected with PERMISSION_DENIED`, {
        timeout: 60_000,
      }, async () => {
        const deny = must(denying, server);
        const since = deny.log.length;
        const ran = await runClient(
          clientCommand(client, { target: deny.address, vm, size: SIZE, calls: 1, timeoutS: 20 }),
          40_000,
        );
        assert.equal(ran.code, 1, `client exit ${ran.code}: ${ran.error}\nserver log:\n${tail(deny)}`);
        assert.equal(ran.error, `PERMISSION_DENIED: Client ${vm.client} is not authorized`);
        const calls = await waitForCalls(deny, since, 1);
        assert.deepEqual(
          calls.map((c) => c.peer),
          [vm.client],
          'the denying server saw the client identity',
        );
      });

      const skip = wrongTargetSkip(client, server);
      it(`${cell}: a wrong target service account is rejected with UNAVAILABLE`, {
        timeout: 60_000,
      }, async (t) => {
        if (skip) {
          t.skip(skip);
          return;
        }
        const target = must(servers, server);
        const since = target.log.length;
        const ran = await runClient(
          clientCommand(client, {
            target: target.address,
            vm,
            size: SIZE,
            calls: 1,
            targetSas: [WRONG_TARGET],
            timeoutS: 15,
          }),
          40_000,
        );
        assert.equal(ran.code, 1, `client exit ${ran.code}: ${ran.error}\nserver log:\n${tail(target)}`);
        assert.match(ran.error, /^UNAVAILABLE: /);
        // Prompt: the handshake is refused, the client does not wait for its deadline.
        assert.ok(ran.ms < 10_000, `rejected after ${ran.ms} ms`);
        assert.deepEqual(callsLogged(target, since), [], 'no call reached the server');
        t.diagnostic(`${ran.error.slice(0, 200)} (${ran.ms} ms)`);
      });
    });
  }

  describe('rekey: more than 65 536 frames', () => {
    const rekeyCells: ReadonlyArray<{
      name: string;
      /** Behind INTEROP_LONG=1 (≈ 40-75 s each here). */
      long: boolean;
      calls: number;
      client: Kind;
      server: () => Running;
      serverKind: Kind;
      vm: Vm;
      extra?: readonly string[];
    }> = [
      {
        // Cheap enough for every run (≈ 10 s): 270 MiB at 4 KiB frames is ~69 500 frames into TS;
        // the replies (16 KiB frames) stay at ~17 000. The long cells cross both ways.
        name: `into TS: Go client → TS server, ${REKEY_IN_CALLS} × 1 MiB, > 65 536 go frames (4 KiB) to TS`,
        long: false,
        calls: REKEY_IN_CALLS,
        client: 'go',
        server: () => must(servers, 'ts'),
        serverKind: 'ts',
        vm: clientVm('go', 'ts'),
      },
      {
        name: `each way: Go client → TS server, ${REKEY_CALLS} × 1 MiB (go writes 4 KiB frames, TS 16 KiB: go advertises no size)`,
        long: true,
        calls: REKEY_CALLS,
        client: 'go',
        server: () => must(servers, 'ts'),
        serverKind: 'ts',
        vm: clientVm('go', 'ts'),
      },
      {
        name: `each way: TS client → Go server, ${REKEY_CALLS} × 1 MiB (TS writes 16 KiB frames, go 4 KiB)`,
        long: true,
        calls: REKEY_CALLS,
        client: 'ts',
        server: () => must(servers, 'go'),
        serverKind: 'go',
        vm: clientVm('ts', 'go'),
      },
      {
        name: `each way: TS client → C-core server, ${REKEY_CALLS} × 1 MiB, TS advertising 16 KiB frames (both write 16 KiB)`,
        long: true,
        calls: REKEY_CALLS,
        client: 'ts',
        server: () => must(servers, 'core'),
        serverKind: 'core',
        vm: clientVm('ts', 'core'),
        extra: ['--max-frame-size', '16384'],
      },
      {
        name: `each way: C-core client → TS server, ${REKEY_CALLS} × 1 MiB, TS advertising 16 KiB frames (both write 16 KiB)`,
        long: true,
        calls: REKEY_CALLS,
        client: 'core',
        server: () => must(rekeyServers, 'ts16k'),
        serverKind: 'ts',
        vm: E1,
      },
    ];
    for (const cell of rekeyCells) {
      it(`rekey ${cell.name}`, { timeout: 300_000 }, async (t) => {
        if (cell.long && !LONG) {
          t.skip('opt-in: INTEROP_LONG=1 (npm run test:interop -- --long)');
          return;
        }
        const server = cell.server();
        await echoCell(
          t,
          cell.client,
          server,
          cell.serverKind,
          {
            target: server.address,
            vm: cell.vm,
            size: MIB,
            calls: cell.calls,
            timeoutS: 60,
            ...(cell.extra ? { extra: cell.extra } : {}),
          },
          280_000,
        );
      });
    }
  });
});
