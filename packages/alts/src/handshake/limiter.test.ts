import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AltsError } from '../errors.js';
import { HandshakeLimiter } from './limiter.js';

/** The limiter's idle grace in these tests. */
const PREEMPT_MS = 100;

/** A signal that never aborts, shared by many waits as a server's lifetime signal is. */
function unbounded(): AbortSignal {
  const signal = new AbortController().signal;
  setMaxListeners(0, signal);
  return signal;
}

/** Queues `count` handshakes from `source`, recording the order in which they get a slot. */
function queue(
  limiter: HandshakeLimiter,
  source: string,
  count: number,
  granted: string[],
  signal: AbortSignal,
) {
  return Array.from({ length: count }, () =>
    limiter.acquire(source, signal).then((release) => {
      granted.push(source);
      return release;
    }),
  );
}

describe('HARDENING 40: handshake slots are shared fairly across sources', () => {
  it('a freed slot goes to the newcomer, not to the source flooding the queue', async () => {
    const limiter = new HandshakeLimiter(2);
    const never = unbounded();
    const held = [limiter.tryAcquire('attacker'), limiter.tryAcquire('attacker')];
    const granted: string[] = [];
    const flood = queue(limiter, 'attacker', 50, granted, never);
    const newcomer = limiter.acquire('newcomer', never).then((release) => {
      granted.push('newcomer');
      return release;
    });
    assert.deepEqual([limiter.active, limiter.waiting], [2, 51]);
    held[0]?.release();
    const releaseNewcomer = await newcomer;
    assert.deepEqual(granted, ['newcomer']);
    releaseNewcomer.release();
    held[1]?.release();
    for (const wait of flood.slice(0, 2)) (await wait).release();
    assert.deepEqual(granted.slice(0, 3), ['newcomer', 'attacker', 'attacker']);
  });

  it('the waiting source with the fewest slots goes first, ties to the least recently served', async () => {
    const limiter = new HandshakeLimiter(3);
    const never = unbounded();
    const a = limiter.tryAcquire('a');
    limiter.tryAcquire('a');
    const b = limiter.tryAcquire('b');
    const granted: string[] = [];
    const waits = [...queue(limiter, 'a', 2, granted, never), ...queue(limiter, 'c', 2, granted, never)];
    b?.release();
    await waits[2];
    a?.release();
    await waits[0];
    assert.deepEqual(granted, ['c', 'a'], 'c (0 slots) first; then a (1 slot) over c (1 slot, served later)');
  });

  it('an aborted wait leaves the queue and takes no slot; counts return to zero', async () => {
    const limiter = new HandshakeLimiter(1);
    const held = limiter.tryAcquire('x');
    const abort = new AbortController();
    const waiting = limiter.acquire('y', abort.signal);
    abort.abort(new AltsError('HANDSHAKE_TIMEOUT', 'deadline'));
    await assert.rejects(waiting, { code: 'HANDSHAKE_TIMEOUT' });
    assert.deepEqual([limiter.active, limiter.waiting], [1, 0]);
    held?.release();
    held?.release();
    assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
    assert.ok(limiter.tryAcquire('y'));
  });

  it('while others wait, a holder idle past preemptIdleAfterMs is ended, longest idle first', async () => {
    const limiter = new HandshakeLimiter(2, PREEMPT_MS);
    const ended: string[] = [];
    const first = limiter.tryAcquire('replayer');
    const second = limiter.tryAcquire('replayer');
    first?.idle(() => {
      ended.push('first');
      first.release();
    });
    second?.idle(() => {
      ended.push('second');
      second.release();
    });
    await sleep(PREEMPT_MS * 2);
    assert.deepEqual(ended, [], 'nobody waits: idle holders keep their slots');
    const newcomer = await limiter.acquire('newcomer', unbounded());
    assert.deepEqual(ended, ['first'], 'one waiter ends one holder, the longest idle');
    newcomer.release();
    second?.release();
    assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
  });

  it('never a client’s only slot, nor a busy holder: an idle one of a richer source once due', async () => {
    const limiter = new HandshakeLimiter(3, PREEMPT_MS);
    let preempted = 0;
    const lone = limiter.tryAcquire('client');
    lone?.idle(() => preempted++);
    const rich = [limiter.tryAcquire('replayer'), limiter.tryAcquire('replayer')];
    rich[0]?.idle(() => preempted++);
    rich[0]?.busy();
    const waiting = limiter.acquire('newcomer', unbounded());
    await sleep(PREEMPT_MS * 2);
    assert.equal(preempted, 0, 'a one-slot source and a busy holder keep their slots');
    const [, second] = rich;
    second?.idle(() => {
      preempted++;
      second.release();
    });
    const started = performance.now();
    // The limiter's timers are unref'd (it never keeps a process alive); a real waiter has a socket.
    const keepAlive = setTimeout(() => undefined, PREEMPT_MS * 100);
    (await waiting).release();
    clearTimeout(keepAlive);
    assert.equal(preempted, 1);
    assert.ok(performance.now() - started >= PREEMPT_MS - 5, 'preempted only once due');
    for (const slot of [lone, ...rich]) slot?.release();
    assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
  });
});
