// The soak (run by `npm run test:stress`, not by `npm test`): getBookingInfo RPCs over many ALTS
// channels with periodic reconnects and a server restart in the middle. Every request id maps to a
// booking whose condition names it, so each reply is matched to its request; failed calls are
// retried (the restart makes some fail) until answered. Figures: RPCs answered, lost (never
// answered), duplicated (more than one response for one request, counted on the wire by a
// ResponseLedger) or wrong, RSS after warm-up vs at the end, leaked handles.
// No figure depends on speed: every deadline is seconds where the work takes milliseconds, so a
// loaded machine only makes the soak slower.
import { setTimeout as sleep } from 'node:timers/promises';
import { InterceptingCall, type Interceptor, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { BookingResponse, OtBookingServiceClient } from '@grpc-alts/ot-booking';
import { forceGc, leakedHandles, resources } from '@grpc-alts/test-support/resources';
import { type Stack, startStack } from './hardening.test.util.js';

export interface SoakOptions {
  rpcs: number;
  channels: number;
  /** Calls in flight per channel. */
  concurrency: number;
  /** Replace one channel (new connection, new handshake) every this many answered RPCs. */
  reconnectEvery: number;
  /** Attempts per request id before it counts as lost. */
  maxAttempts: number;
  log?: (line: string) => void;
}

export interface SoakResult {
  rpcs: number;
  answered: number;
  lost: number;
  duplicated: number;
  /** The first duplicated request ids with their counts, when there are any. */
  duplicates: string;
  wrong: number;
  retries: number;
  reconnects: number;
  serverRestarts: number;
  /** Failed attempts (all retried), by gRPC status code. */
  errorsByCode: Record<string, number>;
  rssStart: number;
  rssEnd: number;
  heapStart: number;
  heapEnd: number;
  leakedHandles: number;
  /** What was still open, when something leaked. */
  leakDetail: string;
  durationMs: number;
}

/** Share of the RPCs run before the starting RSS is taken. */
const WARM_UP_SHARE = 0.3;
/** The server's handshake deadline: the library's default (DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS). */
const SERVER_HANDSHAKE_TIMEOUT_MS = 30_000;
/**
 * Deadline of one attempt, a new connection's handshake included: what ot-booking-client gives a
 * call by default (--timeout 10), far above a loaded machine's handshake plus lookup (milliseconds
 * to a few hundred). Not longer: a request on a channel that never connects costs maxAttempts of it.
 */
const CALL_DEADLINE_MS = 10_000;
/**
 * How long the old server lets calls in flight finish before it is forced down: what
 * ot-booking-server gives them on SIGTERM (SHUTDOWN_GRACE_MS in apps/server/src/main.ts).
 */
const RESTART_GRACE_MS = 5_000;
/** A lookup never answers more than once; the count stops here so it cannot wrap. */
const MAX_COUNTED = 255;
/** Request ids named when some got more than one response. */
const DUPLICATES_SHOWN = 5;

/**
 * Counts, per request id and across all its attempts, the response messages that arrive and the
 * replies the caller got. The retry loop stops at the first reply, and a unary call that receives a
 * second message fails (grpc-js: "Too many responses received", or a hang to the deadline when
 * nobody reads it), which the loop would just retry: only a count below the call sees a response
 * delivered twice. A message on an attempt that then failed counts too: the lookup answers each
 * call once, so more than one message for an id means a response was duplicated or the client
 * dropped an answer it had.
 */
export class ResponseLedger {
  readonly #messages: Uint8Array;
  readonly #replies: Uint8Array;

  constructor(requests: number) {
    this.#messages = new Uint8Array(requests);
    this.#replies = new Uint8Array(requests);
  }

  static #bump(counts: Uint8Array, id: number): void {
    counts[id] = Math.min(MAX_COUNTED, (counts[id] as number) + 1);
  }

  /** One getBookingInfo attempt for request `id` (patient PT-<id>, doctor DC-1), counted. */
  call(client: OtBookingServiceClient, id: number): Promise<BookingResponse> {
    const count: Interceptor = (options, nextCall) => {
      const inner = nextCall(options);
      return new InterceptingCall(inner, {
        start: (metadata, _listener, next) =>
          next(metadata, {
            onReceiveMessage: (message, nextMessage) => {
              nextMessage(message);
              // null is grpc-js's stand-in for "ended without a message". After a real one, ask
              // for another: a unary call reads once, so a second response would sit unread (the
              // call hanging to its deadline) instead of reaching this count.
              if (message === null) return;
              ResponseLedger.#bump(this.#messages, id);
              inner.startRead();
            },
          }),
      });
    };
    return new Promise((resolve, reject) =>
      client.getBookingInfo(
        { patientID: `PT-${id}`, doctorID: 'DC-1', description: '' },
        new Metadata(),
        { deadline: Date.now() + CALL_DEADLINE_MS, interceptors: [count] },
        (error: ServiceError | null, response?: BookingResponse) => {
          if (error) return reject(error);
          ResponseLedger.#bump(this.#replies, id);
          resolve(response as BookingResponse);
        },
      ),
    );
  }

  /** Ids never answered, ids with more than one response, and the first few of those. */
  tally(): { lost: number; duplicated: number; duplicates: string } {
    let lost = 0;
    const duplicatedIds: number[] = [];
    this.#replies.forEach((replies, id) => {
      if (replies === 0) lost++;
      if (replies > 1 || (this.#messages[id] as number) > 1) duplicatedIds.push(id);
    });
    const duplicates = duplicatedIds
      .slice(0, DUPLICATES_SHOWN)
      .map((id) => `PT-${id}: ${this.#messages[id]} messages, ${this.#replies[id]} replies`)
      .join('; ');
    return { lost, duplicated: duplicatedIds.length, duplicates };
  }
}

interface Slot {
  client: OtBookingServiceClient;
  inflight: number;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  forceGc();
  const baseline = resources();
  const started = performance.now();
  const stack: Stack = await startStack({
    patients: options.rpcs,
    handshakeTimeoutMs: SERVER_HANDSHAKE_TIMEOUT_MS,
  });
  const ledger = new ResponseLedger(options.rpcs);
  const errorsByCode: Record<string, number> = {};
  let wrong = 0;
  let retries = 0;
  let reconnects = 0;
  let serverRestarts = 0;
  let answered = 0;
  let next = 0;
  let rssStart = 0;
  let heapStart = 0;
  const retired: Slot[] = [];

  const newSlot = (): Slot => ({
    client: stack.client({ channelOptions: { 'grpc.use_local_subchannel_pool': 1 } }),
    inflight: 0,
  });
  const slots: Slot[] = Array.from({ length: options.channels }, newSlot);
  const closeIdle = () => {
    for (let i = retired.length - 1; i >= 0; i--) {
      const slot = retired[i] as Slot;
      if (slot.inflight === 0) {
        slot.client.close();
        retired.splice(i, 1);
      }
    }
  };

  let restart: Promise<void> | undefined;
  const onAnswered = () => {
    answered++;
    if (answered === Math.round(options.rpcs * WARM_UP_SHARE)) {
      // Warm-up done (JIT, pools, first handshakes, V8's heap grown to its working size): the RSS
      // reference point. RSS never shrinks back after the heap has grown, so measuring earlier
      // would count the allocator's high-water mark as a leak; the GC'd heap figures show retention.
      forceGc();
      const r = resources();
      rssStart = r.rss;
      heapStart = r.heap;
      log(`soak: warm after ${answered} RPCs, rss ${(rssStart / 2 ** 20).toFixed(1)} MiB`);
    }
    if (answered % options.reconnectEvery === 0) {
      const index = (answered / options.reconnectEvery) % slots.length;
      retired.push(slots[index] as Slot);
      slots[index] = newSlot();
      reconnects++;
      closeIdle();
    }
    if (answered === Math.round(options.rpcs / 2) && restart === undefined) {
      log('soak: restarting the server');
      restart = stack.restartServer(RESTART_GRACE_MS).then(() => {
        serverRestarts++;
        log('soak: server back');
      });
    }
  };

  const worker = async (slotIndex: number) => {
    for (;;) {
      const id = next++;
      if (id >= options.rpcs) return;
      for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
        const slot = slots[slotIndex] as Slot;
        slot.inflight++;
        try {
          const reply = await ledger.call(slot.client, id);
          if (reply.condition !== `c${id}`) wrong++;
          onAnswered();
          break;
        } catch (err) {
          const code = String((err as ServiceError).code ?? 'unknown');
          errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
          retries++;
          await sleep(Math.min(1_000, 20 * attempt));
        } finally {
          slot.inflight--;
          if (retired.includes(slot)) closeIdle();
        }
      }
    }
  };

  const workers: Promise<void>[] = [];
  for (let c = 0; c < options.channels; c++) {
    for (let k = 0; k < options.concurrency; k++) workers.push(worker(c));
  }
  const progress = setInterval(() => {
    const m = process.memoryUsage();
    log(
      `soak: ${answered}/${options.rpcs} answered, ${retries} retries, rss ${(m.rss / 2 ** 20).toFixed(1)} MiB, ` +
        `heap ${(m.heapUsed / 2 ** 20).toFixed(1)} MiB, external ${(m.external / 2 ** 20).toFixed(1)} MiB`,
    );
  }, 5_000);
  try {
    await Promise.all(workers);
    await restart;
  } finally {
    clearInterval(progress);
  }
  forceGc();
  const end = resources();
  const { lost, duplicated, duplicates } = ledger.tally();
  for (const slot of [...slots, ...retired]) slot.client.close();
  await stack.stop();
  const { leaked, now } = await leakedHandles(baseline, 10_000);
  return {
    rpcs: options.rpcs,
    answered,
    lost,
    duplicated,
    duplicates,
    wrong,
    retries,
    reconnects,
    serverRestarts,
    errorsByCode,
    rssStart,
    rssEnd: end.rss,
    heapStart,
    heapEnd: end.heap,
    leakedHandles: leaked,
    leakDetail:
      leaked === 0
        ? ''
        : `${JSON.stringify(now)} vs ${JSON.stringify(baseline)}: ${process.getActiveResourcesInfo().join(',')}`,
    durationMs: performance.now() - started,
  };
}
