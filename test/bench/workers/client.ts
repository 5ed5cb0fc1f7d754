/**
 * Benchmark client process for one mode: unary QPS, sequential latency and rate, 1 MB echo, server
 * streaming (with grpc-js's default flow-control window or the OtBooking factory's), new channel +
 * first RPC, handshake rate, and idle connections for the memory cell. Every loop is bounded in
 * count and in time. Started by the orchestrator with its ModeConfig as JSON in argv[2].
 */

import { OT_BOOKING_FLOW_CONTROL_WINDOW } from '@grpc-alts/ot-booking';
import { type BenchClients, type ModeConfig, newClients, pullCall, unaryCall } from '../lib/services.js';
import { percentile } from '../lib/stats.js';
import { majorGcs, serveWorker, settledRss } from '../lib/worker-child.js';

const config = JSON.parse(process.argv[2] ?? '{}') as ModeConfig;
const port = Number(process.argv[3]);

/** One long-lived channel per window setting: grpc-js's default, and the OtBooking factory's. */
const shared: { default?: BenchClients; tuned?: BenchClients } = {};
function clients(windows: 'default' | 'tuned' = 'default'): BenchClients {
  shared[windows] ??= newClients(
    config,
    port,
    windows === 'tuned' ? { 'grpc-node.flow_control_window': OT_BOOKING_FLOW_CONTROL_WINDOW } : {},
  );
  return shared[windows];
}

const num = (args: Record<string, unknown>, key: string, def: number): number => {
  const v = args[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : def;
};

/**
 * Runs `fn` with `inflight` calls outstanding until `durationMs` passed or `maxCount` calls were
 * started; returns how many completed and failed, and the elapsed time.
 */
async function closedLoop(
  inflight: number,
  durationMs: number,
  maxCount: number,
  fn: (i: number) => Promise<unknown>,
): Promise<{ completed: number; errors: number; elapsedMs: number; firstError?: string }> {
  const start = performance.now();
  const deadline = start + durationMs;
  let started = 0;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const lane = async (): Promise<void> => {
    while (started < maxCount && performance.now() < deadline) {
      const i = started++;
      try {
        await fn(i);
        completed++;
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inflight) }, lane));
  const result = { completed, errors, elapsedMs: performance.now() - start };
  return firstError === undefined ? result : { ...result, firstError };
}

function cpuMicros(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}

async function unary(args: Record<string, unknown>) {
  const payload = 'x'.repeat(num(args, 'payloadBytes', 1));
  const inflight = num(args, 'inflight', 64);
  const { booking } = clients();
  const warm = await closedLoop(inflight, num(args, 'warmupMs', 300), 1e6, () => unaryCall(booking, payload));
  const cpu = process.cpuUsage();
  const r = await closedLoop(inflight, num(args, 'durationMs', 1000), num(args, 'maxCalls', 1e6), () =>
    unaryCall(booking, payload),
  );
  return {
    qps: (r.completed / r.elapsedMs) * 1000,
    calls: r.completed,
    totalCalls: warm.completed + r.completed,
    errors: r.errors + warm.errors,
    clientCpuUsPerCall: cpuMicros(cpu) / Math.max(1, r.completed),
    firstError: r.firstError,
  };
}

/** One call at a time, echoing `payloadBytes` each way: latency percentiles, calls and request MB per second. */
async function sequential(args: Record<string, unknown>) {
  const payloadBytes = num(args, 'payloadBytes', 1);
  const payload = 'x'.repeat(payloadBytes);
  const { booking } = clients();
  await closedLoop(1, num(args, 'warmupMs', 300), 1e6, () => unaryCall(booking, payload));
  const latencies: number[] = [];
  const r = await closedLoop(1, num(args, 'durationMs', 1000), num(args, 'maxCalls', 1e6), async () => {
    const t = performance.now();
    await unaryCall(booking, payload);
    latencies.push((performance.now() - t) * 1000);
  });
  latencies.sort((a, b) => a - b);
  const perS = (r.completed / r.elapsedMs) * 1000;
  return {
    p50Us: percentile(latencies, 50),
    p99Us: percentile(latencies, 99),
    perS,
    mbPerS: (perS * payloadBytes) / 1e6,
    calls: r.completed,
    errors: r.errors,
  };
}

async function stream(args: Record<string, unknown>) {
  const size = num(args, 'messageBytes', 64 * 1024);
  const perCall = num(args, 'messagesPerCall', 256);
  const { stream: client } = clients(args.windows === 'tuned' ? 'tuned' : 'default');
  let warmBytes = 0;
  await closedLoop(1, num(args, 'warmupMs', 300), 1e6, async () => {
    warmBytes += await pullCall(client, perCall, size);
  });
  let bytes = 0;
  const cpu = process.cpuUsage();
  const gcs = await majorGcs();
  const r = await closedLoop(1, num(args, 'durationMs', 1000), num(args, 'maxCalls', 1e6), async () => {
    bytes += await pullCall(client, perCall, size);
  });
  return {
    mbPerS: bytes / 1e6 / (r.elapsedMs / 1000),
    bytes,
    totalBytes: warmBytes + bytes,
    errors: r.errors,
    clientCpuUsPerMB: cpuMicros(cpu) / Math.max(1e-9, bytes / 1e6),
    clientMajorGcs: (await majorGcs()) - gcs,
  };
}

/** A new channel (own connection) and its first unary RPC, then close; sequential. */
async function newChannel(args: Record<string, unknown>) {
  const times: number[] = [];
  const r = await closedLoop(1, num(args, 'maxMs', 5000), num(args, 'count', 10), async () => {
    const t = performance.now();
    const c = newClients(config, port);
    try {
      await unaryCall(c.booking, 'x');
      times.push(performance.now() - t);
    } finally {
      c.close();
    }
  });
  const sorted = [...times].sort((a, b) => a - b);
  return {
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    count: times.length,
    errors: r.errors,
  };
}

/** Waits until the channel is READY (TCP + security handshake + HTTP/2 settings). */
function ready(c: BenchClients, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) =>
    c.booking.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(error) : resolve())),
  );
}

/** Handshakes with `concurrency` in flight: a new channel each, time to READY, then closed. */
async function handshakes(args: Record<string, unknown>) {
  const concurrency = num(args, 'concurrency', 1);
  const total = num(args, 'total', concurrency);
  const timeoutMs = num(args, 'timeoutMs', 30_000);
  const latencies: number[] = [];
  const r = await closedLoop(concurrency, num(args, 'maxMs', 30_000), total, async () => {
    const t = performance.now();
    const c = newClients(config, port);
    try {
      await ready(c, timeoutMs);
      latencies.push(performance.now() - t);
    } finally {
      c.close();
    }
  });
  latencies.sort((a, b) => a - b);
  return {
    perS: (r.completed / r.elapsedMs) * 1000,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    completed: r.completed,
    errors: r.errors,
    firstError: r.firstError,
  };
}

const idle: BenchClients[] = [];

/** Opens `count` more connections (one unary RPC each, so both ends are fully set up) and keeps them. */
async function openConnections(args: Record<string, unknown>) {
  const count = num(args, 'count', 10);
  const r = await closedLoop(num(args, 'concurrency', 50), num(args, 'maxMs', 60_000), count, async () => {
    const c = newClients(config, port);
    idle.push(c);
    await unaryCall(c.booking, 'x');
  });
  return { opened: r.completed, errors: r.errors, open: idle.length, firstError: r.firstError };
}

function closeConnections() {
  for (const c of idle.splice(0)) c.close();
  return { open: 0 };
}

serveWorker(
  {
    unary,
    sequential,
    stream,
    newChannel,
    handshakes,
    openConnections,
    closeConnections,
    rss: () => settledRss(),
    cpu: () => process.cpuUsage(),
    majorGcs,
  },
  { mode: config.mode },
  () => {
    closeConnections();
    shared.default?.close();
    shared.tuned?.close();
  },
);
