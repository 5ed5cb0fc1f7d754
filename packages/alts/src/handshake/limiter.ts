import type { Side } from '../constants.js';
import { AltsError } from '../errors.js';
import { maxConcurrentHandshakes } from './config.js';

/**
 * A counting semaphore with a FIFO queue: handshakes past the limit wait for a slot (grpc-go
 * blocks in Acquire, C-core and java queue) instead of failing.
 */
export class HandshakeLimiter {
  #active = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  /** Handshakes holding a slot now. */
  get active(): number {
    return this.#active;
  }

  /** Handshakes waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Takes a free slot at once, or returns undefined when all are taken (then {@link acquire}
   * queues). Slots only free up by going to the first waiter, so a free one means nobody waits.
   */
  tryAcquire(): (() => void) | undefined {
    if (this.#active >= this.limit) return undefined;
    this.#active++;
    return this.#releaser();
  }

  /**
   * Resolves with a release function once a slot is free. The signal aborts the wait (the
   * handshake's deadline or cancellation), rejecting with the signal's reason.
   */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    const release = this.tryAcquire();
    if (release !== undefined) return Promise.resolve(release);
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.#active++;
        resolve(this.#releaser());
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(grant);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(grant);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      this.#waiters.shift()?.();
    };
  }
}

export function abortReason(signal: AbortSignal): AltsError {
  return AltsError.is(signal.reason)
    ? signal.reason
    : new AltsError('CANCELLED', 'the ALTS handshake was cancelled', { cause: signal.reason });
}

const processLimiters: Partial<Record<Side, HandshakeLimiter>> = {};

/**
 * The process-wide limiter of one direction (client and server handshakes are counted apart, as
 * in grpc-go and C-core), sized once from GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES.
 */
export function handshakeLimiter(side: Side): HandshakeLimiter {
  processLimiters[side] ??= new HandshakeLimiter(maxConcurrentHandshakes());
  return processLimiters[side];
}
