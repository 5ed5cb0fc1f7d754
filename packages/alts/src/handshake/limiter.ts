import type { Side } from '../constants.js';
import { AltsError } from '../errors.js';
import { maxConcurrentHandshakes } from './config.js';

/** The source every handshake counts under when the caller names none (the client side). */
const ANY_SOURCE = '';

/** One source's share of the limiter: the slots it holds and its handshakes waiting, oldest first. */
interface SourceShare {
  readonly source: string;
  active: number;
  waiters: Array<() => void>;
  /** When this source last got a slot (a grant counter, not a clock); -1 if never. */
  lastGrant: number;
}

/**
 * A counting semaphore whose queue is fair across sources: handshakes past the limit wait for a
 * slot (grpc-go blocks in Acquire, C-core and java queue) instead of failing, and a freed slot
 * goes to the waiting source that holds the fewest slots, ties to the one served least recently.
 * A source flooding the queue then delays only itself: a newcomer is served next, however many
 * handshakes other sources have waiting (docs/hardening.md 40).
 */
export class HandshakeLimiter {
  #active = 0;
  #waiting = 0;
  #grants = 0;
  readonly #sources = new Map<string, SourceShare>();

  constructor(readonly limit: number) {}

  /** Handshakes holding a slot now. */
  get active(): number {
    return this.#active;
  }

  /** Handshakes waiting for a slot. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Takes a free slot at once, or returns undefined when all are taken (then {@link acquire}
   * queues). Slots only free up by going to a waiter, so a free one means nobody waits.
   */
  tryAcquire(source: string = ANY_SOURCE): (() => void) | undefined {
    if (this.#active >= this.limit) return undefined;
    return this.#grant(this.#share(source));
  }

  /**
   * Resolves with a release function once a slot is free for this source. The signal aborts the
   * wait (the handshake's deadline or cancellation), rejecting with the signal's reason.
   */
  acquire(source: string, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    const release = this.tryAcquire(source);
    if (release !== undefined) return Promise.resolve(release);
    const share = this.#share(source);
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(this.#grant(share));
      };
      const onAbort = () => {
        const i = share.waiters.indexOf(grant);
        if (i >= 0) {
          share.waiters.splice(i, 1);
          this.#waiting--;
          this.#forget(share);
        }
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      share.waiters.push(grant);
      this.#waiting++;
    });
  }

  #share(source: string): SourceShare {
    let share = this.#sources.get(source);
    if (share === undefined) {
      share = { source, active: 0, waiters: [], lastGrant: -1 };
      this.#sources.set(source, share);
    }
    return share;
  }

  #forget(share: SourceShare): void {
    if (share.active === 0 && share.waiters.length === 0) this.#sources.delete(share.source);
  }

  #grant(share: SourceShare): () => void {
    this.#active++;
    share.active++;
    share.lastGrant = this.#grants++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      share.active--;
      this.#forget(share);
      this.#next()?.();
    };
  }

  /** The oldest waiter of the waiting source with the fewest slots, then the least recently served. */
  #next(): (() => void) | undefined {
    let best: SourceShare | undefined;
    for (const share of this.#sources.values()) {
      if (share.waiters.length === 0) continue;
      if (
        best === undefined ||
        share.active < best.active ||
        (share.active === best.active && share.lastGrant < best.lastGrant)
      ) {
        best = share;
      }
    }
    if (best === undefined) return undefined;
    this.#waiting--;
    return best.waiters.shift();
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
