// The soak (run by `npm run test:stress`, not by `npm test`): getBookingInfo RPCs over many ALTS
// channels with periodic reconnects and a server restart in the middle. Every request id maps to a
// booking whose condition names it, so each reply is matched to its request; failed calls are
// retried (the restart makes some fail) until answered. Figures: RPCs answered, lost (never
// answered), duplicated (answered twice) or wrong, RSS after warm-up vs at the end, leaked handles.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceError } from '@grpc/grpc-js';
import type { OtBookingServiceClient } from '@grpc-alts/ot-booking';
import { forceGc, getBooking, leakedHandles, resources, type Stack, startStack } from './support.js';

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

interface Slot {
  client: OtBookingServiceClient;
  inflight: number;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  forceGc();
  const baseline = resources();
  const started = performance.now();
  const stack: Stack = await startStack({ patients: options.rpcs, handshakeTimeoutMs: 10_000 });
  const answers = new Uint8Array(options.rpcs);
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
      restart = stack.restartServer(2_000).then(() => {
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
          const reply = await getBooking(slot.client, id, 10_000);
          if (reply.condition !== `c${id}`) wrong++;
          answers[id] = (answers[id] as number) + 1;
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
  let lost = 0;
  let duplicated = 0;
  for (const n of answers) {
    if (n === 0) lost++;
    else if (n > 1) duplicated++;
  }
  for (const slot of [...slots, ...retired]) slot.client.close();
  await stack.stop();
  const { leaked, now } = await leakedHandles(baseline, 10_000);
  return {
    rpcs: options.rpcs,
    answered,
    lost,
    duplicated,
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
