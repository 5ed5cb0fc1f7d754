// Handshaker faults (HARDENING 18, 19, 21, 26): the client's handshaker is the emulator CLI in a
// child process, which the test kills (SIGKILL) mid-handshake, restarts on the same port, freezes
// (SIGSTOP: accepts, never answers) and makes refuse (IAM disable). The server side keeps its own
// in-process emulator on the same trust root. Each phase uses a fresh channel (its own subchannel
// pool), so every call needs a new handshake.
// Invariants: the client fails fast with UNAVAILABLE (well before its handshake deadline unless the
// fault is a hang, where the deadline fires), recovers once the handshaker is back, and leaves no
// sockets, servers, timers, child processes or file descriptors behind.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server as NetServer, connect as netConnect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type ServiceError, status } from '@grpc/grpc-js';
import { disableServiceAccount, enableServiceAccount } from '@grpc-alts/alts-emulator';
import { createOtBookingClient, type OtBookingServiceClient } from '@grpc-alts/ot-booking';
import { forceGc, leakedHandles, type Resources, resources } from '@grpc-alts/test-support/resources';
import {
  CLIENT_SA,
  getBooking,
  reportFigures,
  SERVER_SA,
  type Stack,
  startStack,
} from './hardening.test.util.js';

const CLI = join(dirname(fileURLToPath(import.meta.resolve('@grpc-alts/alts-emulator'))), 'cli', 'cli.js');
/** The clients' handshake deadline here: the SIGSTOP case waits for it, so shorter than the default. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * "Fails fast" means before half the deadline: proof that the failure did not wait for it, with
 * room for a loaded 2-core machine (these cases take milliseconds when idle).
 */
const FAST_MS = HANDSHAKE_TIMEOUT_MS / 2;

interface Child {
  process: ChildProcess;
  address: string;
  port: number;
}

async function startChild(stateDir: string, port = 0): Promise<Child> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--listen', `127.0.0.1:${port}`, '--service-account', CLIENT_SA, '--state-dir', stateDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr?.resume();
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the emulator CLI did not print READY')), 10_000);
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /READY (\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the emulator CLI exited with ${code}`));
    });
  });
  return { process: child, address, port: Number(address.slice(address.lastIndexOf(':') + 1)) };
}

async function kill(child: Child, signal: NodeJS.Signals): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  const exited = once(child.process, 'exit');
  child.process.kill(signal);
  await exited;
}

/** A TCP proxy to `port` whose server→client direction can be delayed or dropped. */
async function proxy(
  port: number,
  mode: { delayMs: number } | 'silent',
  onClientBytes: () => void,
): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((inbound) => {
    const outbound = netConnect(port, '127.0.0.1');
    sockets.add(inbound).add(outbound);
    for (const s of [inbound, outbound]) s.on('error', () => undefined);
    inbound.once('data', onClientBytes);
    inbound.on('data', (b) => outbound.write(b));
    outbound.on('data', (b) => {
      if (mode !== 'silent') setTimeout(() => inbound.destroyed || inbound.write(b), mode.delayMs);
    });
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<{ error: ServiceError; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (err) {
    return { error: err as ServiceError, ms: performance.now() - started };
  }
  assert.fail('expected the call to fail');
}

describe('handshaker faults', () => {
  let baseline: Resources;
  let stack: Stack;
  let child: Child;
  const clients: OtBookingServiceClient[] = [];

  function client(target: string, handshakerAddress = child.address, timeoutMs = HANDSHAKE_TIMEOUT_MS) {
    const c = createOtBookingClient(target, {
      targetServiceAccounts: [SERVER_SA],
      handshakerServiceAddress: handshakerAddress,
      handshakeTimeoutMs: timeoutMs,
      channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
    });
    clients.push(c);
    return c;
  }
  /** Calls until one succeeds (fresh channels); resolves with the time it took. */
  async function recovers(limitMs: number): Promise<number> {
    const started = performance.now();
    let last: unknown;
    while (performance.now() - started < limitMs) {
      const c = client(stack.target);
      try {
        assert.equal((await getBooking(c, 3, HANDSHAKE_TIMEOUT_MS)).condition, 'c3');
        return performance.now() - started;
      } catch (err) {
        last = err;
        await sleep(200);
      } finally {
        c.close();
      }
    }
    assert.fail(`no recovery within ${limitMs} ms: ${String(last)}`);
  }

  before(async () => {
    forceGc();
    baseline = resources();
    stack = await startStack({ handshakeTimeoutMs: 5_000 });
    child = await startChild(stack.stateDir);
  });
  after(async () => {
    for (const c of clients.splice(0)) c.close();
    if (child) await kill(child, 'SIGKILL');
    await stack?.stop();
  });

  test('the handshaker up: a call over a fresh connection works', async () => {
    assert.equal((await getBooking(client(stack.target), 1)).condition, 'c1');
  });

  test('HARDENING 18: handshaker down — 100 concurrent connects fail fast with UNAVAILABLE', async () => {
    await kill(child, 'SIGKILL');
    const results = await Promise.all(
      Array.from({ length: 100 }, () => failure(getBooking(client(stack.target), 1, 20_000))),
    );
    for (const { error, ms } of results) {
      assert.equal(error.code, status.UNAVAILABLE, error.message);
      assert.ok(ms < FAST_MS, `took ${ms.toFixed(0)} ms: not fast`);
    }
    for (const c of clients.splice(0)) c.close();
  });

  test('HARDENING 18: restarted on the same port — calls recover', async () => {
    child = await startChild(stack.stateDir, child.port);
    const ms = await recovers(15_000);
    assert.ok(ms < 15_000);
  });

  test('HARDENING 19/20: killed mid-handshake (peer still answering) — fails fast with UNAVAILABLE', async () => {
    let sawClient!: () => void;
    const clientSpoke = new Promise<void>((resolve) => {
      sawClient = resolve;
    });
    const slow = await proxy(stack.port, { delayMs: 300 }, () => sawClient());
    try {
      const c = client(`127.0.0.1:${slow.port}`, child.address, 10_000);
      const call = failure(getBooking(c, 1, 20_000));
      await clientSpoke; // ClientInit is on the wire: the handshake is in progress
      await kill(child, 'SIGKILL');
      const { error, ms } = await call;
      assert.equal(error.code, status.UNAVAILABLE, error.message);
      assert.ok(ms < FAST_MS, `took ${ms.toFixed(0)} ms against a 10 s handshake deadline`);
    } finally {
      slow.close();
    }
  });

  test('HARDENING 19/20: killed while waiting for a silent peer — fails fast, not at the deadline', async () => {
    child = await startChild(stack.stateDir, child.port);
    await recovers(15_000);
    let sawClient!: () => void;
    const clientSpoke = new Promise<void>((resolve) => {
      sawClient = resolve;
    });
    const silent = await proxy(stack.port, 'silent', () => sawClient());
    try {
      const c = client(`127.0.0.1:${silent.port}`, child.address, 10_000);
      const call = failure(getBooking(c, 1, 20_000));
      await clientSpoke;
      await sleep(50);
      const killedAt = performance.now();
      await kill(child, 'SIGKILL');
      const { error } = await call;
      const ms = performance.now() - killedAt;
      assert.equal(error.code, status.UNAVAILABLE, error.message);
      assert.ok(ms < FAST_MS, `took ${ms.toFixed(0)} ms after the kill, against a 10 s handshake deadline`);
    } finally {
      silent.close();
    }
  });

  test('HARDENING 19: hanging handshaker (SIGSTOP) — the handshake deadline fires, UNAVAILABLE; SIGCONT recovers', async () => {
    child = await startChild(stack.stateDir, child.port);
    await recovers(15_000);
    child.process.kill('SIGSTOP');
    try {
      const { error, ms } = await failure(getBooking(client(stack.target), 1, 20_000));
      assert.equal(error.code, status.UNAVAILABLE, error.message);
      assert.ok(
        ms >= HANDSHAKE_TIMEOUT_MS - 100 && ms < HANDSHAKE_TIMEOUT_MS + FAST_MS,
        `failed after ${ms.toFixed(0)} ms`,
      );
    } finally {
      child.process.kill('SIGCONT');
    }
    await recovers(15_000);
  });

  test('HARDENING 21/24: handshaker returning errors (IAM disabled) — fast UNAVAILABLE with its reason; re-enabled recovers', async () => {
    await disableServiceAccount(stack.stateDir, CLIENT_SA);
    try {
      const { error, ms } = await failure(getBooking(client(stack.target), 1, 20_000));
      assert.equal(error.code, status.UNAVAILABLE, error.message);
      assert.match(error.details, /disabled/);
      assert.ok(ms < FAST_MS, `took ${ms.toFixed(0)} ms`);
    } finally {
      await enableServiceAccount(stack.stateDir, CLIENT_SA);
    }
    await recovers(15_000);
  });

  test('HARDENING 26: no streams, timers, sockets, processes or fds left', async () => {
    for (const c of clients.splice(0)) c.close();
    await kill(child, 'SIGTERM');
    await stack.stop();
    const { leaked, now } = await leakedHandles(baseline);
    reportFigures({ suite: 'faults', leakedHandles: leaked });
    assert.equal(leaked, 0, `leaked: ${JSON.stringify(now)} vs baseline ${JSON.stringify(baseline)}`);
  });
});
