import type { Side } from '../constants.js';
import { AltsError } from '../errors.js';

/** The source every handshake counts under when the caller names none (the client side). */
const ANY_SOURCE = '';

/**
 * How long a slot holder may wait for its peer while other handshakes wait for a slot. A
 * legitimate peer answers within its round trip plus one to its own handshaker (milliseconds on
 * one network, a few hundred across continents); a peer that replayed a captured first message
 * never answers, and under load it must not keep a slot for its whole message deadline.
 */
export const DEFAULT_PREEMPT_IDLE_AFTER_MS = 1_000;

/** A handshake slot, held from the first handshaker request until the handshake ends. */
export interface Slot {
  /** Gives the slot back; later calls do nothing. */
  release(): void;
  /**
   * The handshake now waits for its peer. While others wait for a slot and this one has waited
   * `preemptIdleAfterMs`, `preempt` is called: it must end the handshake (and so release).
   */
  idle(preempt: () => void): void;
  /** The peer answered: the handshake works again and cannot be preempted. */
  busy(): void;
}

/** One source's share of the limiter: the slots it holds and its handshakes waiting, oldest first. */
interface SourceShare {
  readonly source: string;
  active: number;
  waiters: Array<() => void>;
  /** When this source last got a slot (a grant counter, not a clock); -1 if never. */
  lastGrant: number;
}

interface Idle {
  readonly share: SourceShare;
  readonly since: number;
  readonly preempt: () => void;
}

/**
 * A counting semaphore whose queue is fair across sources: handshakes past the limit wait for a
 * slot (grpc-go blocks in Acquire, C-core and java queue) instead of failing, and a freed slot
 * goes to the waiting source that holds the fewest slots, ties to the one served least recently.
 * A source flooding the queue then delays only itself, and a source whose holders sit idle waiting
 * for their peers cannot keep poorer sources waiting for long (see #relieve; docs/hardening.md 40).
 */
export class HandshakeLimiter {
  #active = 0;
  #waiting = 0;
  #grants = 0;
  /** Preempted slots not yet released: each already stands for one waiter. */
  #preempting = 0;
  readonly #sources = new Map<string, SourceShare>();
  /** Holders waiting for their peer, longest idle first (a Map keeps insertion order). */
  readonly #idle = new Map<object, Idle>();
  #recheck: NodeJS.Timeout | undefined;

  constructor(
    readonly limit: number,
    readonly preemptIdleAfterMs: number = DEFAULT_PREEMPT_IDLE_AFTER_MS,
  ) {}

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
  tryAcquire(source: string = ANY_SOURCE): Slot | undefined {
    if (this.#active >= this.limit) return undefined;
    return this.#grant(this.#share(source));
  }

  /**
   * Resolves with a slot once one is free for this source. The signal aborts the wait (the
   * handshake's deadline or cancellation), rejecting with the signal's reason.
   */
  acquire(source: string, signal: AbortSignal): Promise<Slot> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    const slot = this.tryAcquire(source);
    if (slot !== undefined) return Promise.resolve(slot);
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
      this.#relieve();
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

  #grant(share: SourceShare): Slot {
    this.#active++;
    share.active++;
    share.lastGrant = this.#grants++;
    const key = {};
    let released = false;
    let preempted = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#idle.delete(key);
        if (preempted) this.#preempting--;
        this.#active--;
        share.active--;
        this.#forget(share);
        this.#next()?.();
      },
      idle: (preempt) => {
        if (released || preempted) return;
        this.#idle.set(key, {
          share,
          since: performance.now(),
          preempt: () => {
            preempted = true;
            preempt();
          },
        });
        this.#relieve();
      },
      busy: () => {
        this.#idle.delete(key);
      },
    };
  }

  /**
   * While more handshakes wait than preempted slots are coming free, ends a holder idle past
   * `preemptIdleAfterMs` whose source holds at least two more slots than the poorest waiting
   * source (the one served next): a slot moves from a richer source to a poorer one, as places do
   * in admission, so a client's only handshake is never ended for another's. The richest source's
   * longest idle holder goes first; checks again when the next candidate will be due.
   */
  #relieve(): void {
    clearTimeout(this.#recheck);
    this.#recheck = undefined;
    while (this.#waiting > this.#preempting) {
      const poorest = this.#nextSource();
      if (poorest === undefined) return;
      const now = performance.now();
      let victim: [object, Idle] | undefined;
      let nextDue = Number.POSITIVE_INFINITY;
      for (const entry of this.#idle) {
        const [, idle] = entry;
        if (idle.share.active < poorest.active + 2) continue;
        const due = idle.since + this.preemptIdleAfterMs - now;
        if (due > 0) nextDue = Math.min(nextDue, due);
        else if (victim === undefined || idle.share.active > victim[1].share.active) victim = entry;
      }
      if (victim === undefined) {
        if (nextDue !== Number.POSITIVE_INFINITY) {
          this.#recheck = setTimeout(() => this.#relieve(), nextDue);
          this.#recheck.unref();
        }
        return;
      }
      this.#idle.delete(victim[0]);
      this.#preempting++;
      victim[1].preempt();
    }
  }

  /** The oldest waiter of the source served next. */
  #next(): (() => void) | undefined {
    const share = this.#nextSource();
    if (share === undefined) return undefined;
    this.#waiting--;
    return share.waiters.shift();
  }

  /** The waiting source served next: the one holding the fewest slots, then the least recently served. */
  #nextSource(): SourceShare | undefined {
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
    return best;
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
 * in grpc-go and C-core), sized once: by the first caller's resolved `limit`.
 */
export function handshakeLimiter(side: Side, limit: number): HandshakeLimiter {
  processLimiters[side] ??= new HandshakeLimiter(limit);
  return processLimiters[side];
}
