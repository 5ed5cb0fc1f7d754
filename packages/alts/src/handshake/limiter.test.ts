import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { describe, it } from 'node:test';
import { AltsError } from '../errors.js';
import { HandshakeLimiter } from './limiter.js';

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
    held[0]?.();
    const releaseNewcomer = await newcomer;
    assert.deepEqual(granted, ['newcomer']);
    releaseNewcomer();
    held[1]?.();
    for (const wait of flood.slice(0, 2)) (await wait)();
    assert.deepEqual(granted.slice(0, 3), ['newcomer', 'attacker', 'attacker']);
  });

  it('the waiting source with the fewest slots goes first, ties to the one served least recently', async () => {
    const limiter = new HandshakeLimiter(3);
    const never = unbounded();
    const a = limiter.tryAcquire('a');
    limiter.tryAcquire('a');
    const b = limiter.tryAcquire('b');
    const granted: string[] = [];
    const waits = [...queue(limiter, 'a', 2, granted, never), ...queue(limiter, 'c', 2, granted, never)];
    b?.();
    await waits[2];
    a?.();
    await waits[0];
    assert.deepEqual(granted, ['c', 'a'], 'c (0 slots) first; then a (1 slot) over c (1 slot, served later)');
  });

  it('an aborted wait leaves the queue and takes no slot; counts return to zero', async () => {
    const limiter = new HandshakeLimiter(1);
    const release = limiter.tryAcquire('x');
    const abort = new AbortController();
    const waiting = limiter.acquire('y', abort.signal);
    abort.abort(new AltsError('HANDSHAKE_TIMEOUT', 'deadline'));
    await assert.rejects(waiting, { code: 'HANDSHAKE_TIMEOUT' });
    assert.deepEqual([limiter.active, limiter.waiting], [1, 0]);
    release?.();
    release?.();
    assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
    assert.ok(limiter.tryAcquire('y'));
  });
});
