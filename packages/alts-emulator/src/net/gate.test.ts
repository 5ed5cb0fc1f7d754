// What a TCP connection can cost the emulator before it is a handshake stream (HARDENING 45, 46):
// idle connections are closed, the number of connections is capped without hurting live clients,
// and an emulator can serve a single local user.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { connectivityState } from '@grpc/grpc-js';
import { type RunningEmulator, startEmulator } from '../emulator.js';
import {
  CLIENT,
  cleanupsAfterAll,
  connect,
  relayHandshake,
  SERVER,
  tempStateDir,
} from '../emulator.test.util.js';
import { MAX_CONNECTIONS, PREFACE_TIMEOUT_MS } from './gate.js';

const cleanups = cleanupsAfterAll();
/** Generous bound for the emulator to act on a loaded 2-core machine. */
const SLACK_MS = 30_000;
/** Idle connections opened in the preface test. */
const IDLE_CONNECTIONS = 200;
/** Connections opened at once while filling the emulator: below the listen backlog (511). */
const BATCH = 100;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

async function emulator(
  options: { allowedUid?: number } = {},
): Promise<RunningEmulator & { logs: string[] }> {
  const { dir, cleanup } = await tempStateDir();
  const logs: string[] = [];
  const e = await startEmulator({
    serviceAccount: SERVER,
    clientServiceAccount: CLIENT,
    stateDir: dir,
    logger: (line) => logs.push(line),
    ...options,
  });
  cleanups.push(cleanup, () => e.stop());
  return Object.assign(e, { logs });
}

/** A raw TCP connection to `address`, connected, sending `hello` if given. */
async function open(address: string, hello?: Buffer): Promise<Socket> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.split(':').pop())];
  const socket = createConnection({ host, port });
  socket.on('error', () => undefined);
  cleanups.push(() => void socket.destroy());
  await once(socket, 'connect');
  if (hello) socket.write(hello);
  return socket;
}

/** When the other side closes `socket`, in ms after `since`; rejects after `boundMs`. */
function closedAfter(socket: Socket, since: number, boundMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${boundMs} ms`)), boundMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - since);
    });
    socket.resume();
  });
}

async function handshakes(service: ReturnType<typeof connect>): Promise<void> {
  const outcome = await relayHandshake(service, service);
  assert.equal(
    outcome.client.result?.peerIdentity?.serviceAccount,
    SERVER,
    JSON.stringify(outcome.client.failure),
  );
}

describe('HARDENING 45: the emulator bounds its connections', () => {
  test(
    `HARDENING 45: ${IDLE_CONNECTIONS} connections that send no HTTP/2 preface are closed after ` +
      `${PREFACE_TIMEOUT_MS} ms; a client that sent it keeps its connection`,
    async () => {
      const e = await emulator();
      const service = connect(e.address);
      cleanups.push(() => service.close());
      await handshakes(service);
      const since = Date.now();
      const idle = await Promise.all(Array.from({ length: IDLE_CONNECTIONS }, () => open(e.address)));
      const closed = await Promise.all(idle.map((s) => closedAfter(s, since, PREFACE_TIMEOUT_MS + SLACK_MS)));
      assert.ok(
        Math.min(...closed) >= PREFACE_TIMEOUT_MS - 50,
        `one was closed after ${Math.min(...closed)} ms`,
      );
      assert.equal(service.getChannel().getConnectivityState(false), connectivityState.READY);
      await handshakes(service);
      assert.ok(e.logs.some((l) => l.includes(`no HTTP/2 preface within ${PREFACE_TIMEOUT_MS} ms`)));
      assert.ok(
        e.logs.length < 10,
        `one line per kind and interval, not per connection:\n${e.logs.join('\n')}`,
      );
    },
  );

  test(
    `HARDENING 45: at ${MAX_CONNECTIONS} open connections a new one is closed at accept, while an ` +
      `established client keeps handshaking`,
    async () => {
      const e = await emulator();
      const service = connect(e.address);
      cleanups.push(() => service.close());
      await handshakes(service);
      // Each sends the preface: only the cap may close them.
      const held: Socket[] = [];
      while (held.length < MAX_CONNECTIONS - 1) {
        const n = Math.min(BATCH, MAX_CONNECTIONS - 1 - held.length);
        held.push(...(await Promise.all(Array.from({ length: n }, () => open(e.address, PREFACE)))));
      }
      const refused = await open(e.address, PREFACE);
      await closedAfter(refused, Date.now(), SLACK_MS);
      assert.equal(refused.bytesRead, 0, 'refused before a byte of HTTP/2');
      // Past the preface deadline: the held connections and the client's stay.
      await new Promise((resolve) => setTimeout(resolve, PREFACE_TIMEOUT_MS + 1_000));
      assert.equal(held.filter((s) => s.closed).length, 0);
      await handshakes(service);
      assert.equal(service.getChannel().getConnectivityState(false), connectivityState.READY);
      assert.ok(
        e.logs.some((l) => l.includes(`${MAX_CONNECTIONS} connections open, the most this emulator holds`)),
      );
      // Room again once they go: a new client is served.
      for (const s of held) s.destroy();
      const newcomer = connect(e.address);
      cleanups.push(() => newcomer.close());
      await handshakes(newcomer);
    },
  );
});

describe('HARDENING 46: an emulator with allowedUid serves that local user only', () => {
  test(
    'HARDENING 46: our own uid is served; with another allowedUid our connections are closed at accept ' +
      'and logged once',
    async () => {
      const uid = process.getuid?.() ?? 0;
      const mine = await emulator({ allowedUid: uid });
      const service = connect(mine.address);
      cleanups.push(() => service.close());
      await handshakes(service);
      const other = await emulator({ allowedUid: uid + 1 });
      const refused = await open(other.address, PREFACE);
      await closedAfter(refused, Date.now(), SLACK_MS);
      assert.equal(refused.bytesRead, 0);
      const client = connect(other.address);
      cleanups.push(() => client.close());
      await assert.rejects(
        relayHandshake(client, client),
        /stream ended: 14 /,
        'UNAVAILABLE: no handshake for another uid',
      );
      const refusals = other.logs.filter((l) => l.includes(`serves uid ${uid + 1} only`));
      assert.equal(refusals.length, 1, other.logs.join('\n'));
      assert.match(refusals[0] ?? '', new RegExp(`its other end is uid ${uid},`));
    },
  );
});
