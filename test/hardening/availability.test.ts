// Availability under attack (docs/hardening.md 40-43), against the real `ot-booking-server` with
// every limit at its default. Attackers connect from other loopback addresses than the good
// clients (127.0.0.x, as other hosts would) and reopen each connection the server closes, so the
// pressure never lets up; meanwhile a good client opens a fresh channel (a new handshake) for
// each call with a 10 s deadline. Invariant: zero good-call errors in every attack.
// Knob: AVAILABILITY_ATTACK_MS, each attack's length (default 12 s, longer than the server's 10 s
// first-message deadline so closed connections are reopened; `npm run test:stress` runs 60 s).
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { envInt } from '@grpc-alts/test-support/fuzz';
import { reportFigures } from './hardening.test.util.js';
import { clientInitBytes } from './raw-client.test.util.js';
import { goodCall, type ServerUnderAttack, startServerUnderAttack } from './server-process.test.util.js';

const ATTACK_MS = envInt('AVAILABILITY_ATTACK_MS', 12_000, 2_000, 600_000);
/** The good client's deadline per call, as in the measurements. */
const GOOD_CALL_DEADLINE_MS = 10_000;
/** Pause between good calls: a steady trickle, not a load test. */
const GOOD_CALL_PAUSE_MS = 200;
/** A refused attacker waits this long before it tries again (a tight loop would only test the kernel). */
const REOPEN_DELAY_MS = 50;
/** The server's defaults the attacks are sized against (AltsServerOptions). */
const MAX_UNAUTHENTICATED = 1_000;
const HANDSHAKE_SLOTS = 100;
/** A dripping attacker's pause between bytes: "a byte every few seconds". */
const DRIP_EVERY_MS = 2_000;

/** The i-th attacking source address (127.0.1.x, never the good client's 127.0.0.1). */
const attackAddress = (i: number) => `127.0.1.${1 + i}`;

type Behaviour = (socket: Socket) => void;

/** Connections that misbehave and are reopened whenever the server closes them, until stopped. */
class Attack {
  readonly #port: number;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;
  opened = 0;

  constructor(port: number) {
    this.#port = port;
  }

  /** Keeps `count` connections from `address` behaving so. */
  hold(address: string, count: number, behave: Behaviour): void {
    for (let i = 0; i < count; i++) this.#open(address, behave);
  }

  /** Opens a new connection from `address` `perSecond` times a second (each one reopened too). */
  every(address: string, perSecond: number, behave: Behaviour): void {
    const timer = setInterval(() => this.#open(address, behave), 1_000 / perSecond);
    this.#timers.add(timer);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const socket of this.#sockets) socket.destroy();
  }

  #open(address: string, behave: Behaviour): void {
    if (this.#stopped) return;
    const socket = connect({ port: this.#port, host: '127.0.0.1', localAddress: address });
    this.opened++;
    this.#sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('connect', () => behave(socket));
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (this.#stopped) return;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#open(address, behave);
      }, REOPEN_DELAY_MS);
      this.#timers.add(timer);
    });
  }
}

const silent: Behaviour = () => undefined;

/** Sends `bytes` one at a time, a few seconds apart, never finishing a message. */
function dripping(bytes: Buffer): Behaviour {
  return (socket) => {
    let i = 0;
    const drip = setInterval(() => {
      if (socket.destroyed) clearInterval(drip);
      else socket.write(bytes.subarray(i, ++i % bytes.length || 1));
    }, DRIP_EVERY_MS);
    socket.once('close', () => clearInterval(drip));
  };
}

interface GoodCalls {
  succeeded: number;
  tried: number;
  worstMs: number;
  errors: string[];
}

/** A good client calling over a fresh channel each time, until `untilMs` (Date.now()). */
async function goodCalls(target: ServerUnderAttack, untilMs: number): Promise<GoodCalls> {
  const result: GoodCalls = { succeeded: 0, tried: 0, worstMs: 0, errors: [] };
  while (Date.now() < untilMs) {
    const started = performance.now();
    result.tried++;
    try {
      await goodCall(target, GOOD_CALL_DEADLINE_MS);
      result.succeeded++;
    } catch (err) {
      result.errors.push(`${(err as Error).message} after ${(performance.now() - started).toFixed(0)} ms`);
    } finally {
      result.worstMs = Math.max(result.worstMs, performance.now() - started);
    }
    await sleep(GOOD_CALL_PAUSE_MS);
  }
  return result;
}

describe('HARDENING 40-43: a server keeps serving good clients while attacked, with default limits', () => {
  let target: ServerUnderAttack;
  let clientInit: Buffer;

  before(async () => {
    target = await startServerUnderAttack('alts-availability-');
    clientInit = await clientInitBytes(target.emulator.address);
  });

  after(async () => target.stop());

  /** Runs one attack for ATTACK_MS with good calls throughout; asserts zero good errors. */
  async function underAttack(t: TestContext, name: string, launch: (attack: Attack) => void): Promise<void> {
    const attack = new Attack(target.port);
    const until = Date.now() + ATTACK_MS;
    launch(attack);
    let good: GoodCalls;
    try {
      // Let the attack take hold before the first good call.
      await sleep(1_000);
      good = await goodCalls(target, until);
    } finally {
      attack.stop();
    }
    const figures = `${good.succeeded}/${good.tried} good calls, worst ${good.worstMs.toFixed(0)} ms, ${attack.opened} attacking connections`;
    t.diagnostic(`${name}: ${figures}`);
    reportFigures({
      suite: 'availability',
      attack: name,
      goodCalls: good.succeeded,
      goodTried: good.tried,
      worstMs: Math.round(good.worstMs),
      attacking: attack.opened,
    });
    assert.equal(target.exited(), false, 'the server survived');
    assert.deepEqual(good.errors, [], figures);
    assert.ok(good.succeeded >= 3, `good calls kept going: ${figures}`);
    // The server closes what the attack left; give it a moment before the next attack.
    await sleep(1_000);
  }

  it('HARDENING 40: 100 connections replay a captured ClientInit and go silent, reopened as closed', async (t) => {
    await underAttack(t, 'replay-100', (attack) =>
      attack.hold(attackAddress(0), HANDSHAKE_SLOTS, (socket) => socket.write(clientInit)),
    );
  });

  it('HARDENING 40: 20 new replaying connections per second from each of two addresses', async (t) => {
    await underAttack(t, 'replay-20/s-x2', (attack) => {
      for (const a of [0, 1]) attack.every(attackAddress(a), 20, (socket) => socket.write(clientInit));
    });
  });

  for (const sources of [2, 10, 100]) {
    it(`HARDENING 41: silent and dripping connections from ${sources} addresses hold every place they can`, async (t) => {
      await underAttack(t, `fill-${sources}-sources`, (attack) => {
        const each = Math.ceil(MAX_UNAUTHENTICATED / sources);
        for (let a = 0; a < sources; a++) {
          attack.hold(attackAddress(a), Math.ceil(each / 2), silent);
          attack.hold(attackAddress(a), Math.floor(each / 2), dripping(clientInit));
        }
      });
    });
  }
});
