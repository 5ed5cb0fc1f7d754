/**
 * Section 4: grpc-js end to end, client and server in separate processes, for insecure, TLS 1.3
 * (TLS_AES_128_GCM_SHA256) and ALTS, with the generated OtBooking service (unary, payload echoed)
 * and a Buffer server-streaming service: 1 MB unary echo, 100 B sequential echo (rate and p50/p99),
 * server streaming of 64 KiB messages with grpc-js's default flow-control window and with the
 * OtBooking factory's (major GCs per 100 MB and CPU per MB on both sides next to MB/s), new
 * channel + first RPC, unary QPS with 64 in flight (1 B, 1 KiB).
 * Where the interop peers are built, grpc-go ALTS and C-core ALTS run the same workloads through
 * the same emulator (sections/peers.ts), on shorter windows: they are several times faster, and the
 * whole bench has to stay under ~8 minutes.
 * Cells are interleaved (rep by rep, mode by mode) so that drifting machine load hits every mode alike.
 */
import { join } from 'node:path';
import { OT_BOOKING_FLOW_CONTROL_WINDOW } from '@grpc-alts/ot-booking';
import type { Worker } from '@grpc-alts/test-support/processes';
import { type BenchContext, startPairs } from '../lib/context.js';
import { MODES, type Mode } from '../lib/services.js';
import { fmt, type Summary, summarize } from '../lib/stats.js';
import {
  PEER_LABELS,
  type PeerFigures,
  type PeerMode,
  type PeerServers,
  type PeerSettings,
  runPeerCell,
  startPeerServers,
} from './peers.js';

export const GRPC_METRICS = [
  'echo1MBMBps',
  'seq100BPerS',
  'seqP50Us',
  'seqP99Us',
  'streamMBps',
  'streamClientMajorGcsPer100MB',
  'streamServerMajorGcsPer100MB',
  'streamClientCpuUsPerMB',
  'streamServerCpuUsPerMB',
  'tunedStreamMBps',
  'tunedStreamClientMajorGcsPer100MB',
  'tunedStreamServerMajorGcsPer100MB',
  'tunedStreamClientCpuUsPerMB',
  'tunedStreamServerCpuUsPerMB',
  'newChannelMs',
  'unary1BQps',
  'unary1KiBQps',
  'unaryClientCpuUs',
  'unaryServerCpuUs',
] as const;
export type GrpcMetric = (typeof GRPC_METRICS)[number];

/** The two flow-control settings of the streaming cell and the prefix of their metrics. */
const STREAM_WINDOWS = [
  ['default', 'stream'],
  ['tuned', 'tunedStream'],
] as const;

/** The grpc-js modes and the interop peers' (grpc-go and C-core ALTS). */
export type GrpcMode = Mode | PeerMode;

export interface GrpcSection {
  settings: Record<string, number>;
  modes: Partial<Record<GrpcMode, Partial<Record<GrpcMetric, Summary>>>>;
  skipped: Partial<Record<GrpcMode, string>>;
  errors: Partial<Record<GrpcMode, number>>;
  /** The interop peers' libraries and versions, e.g. "grpc-go 1.33.3" (absent in older results). */
  peerVersions?: Partial<Record<PeerMode, string>>;
}

interface UnaryResult {
  qps: number;
  totalCalls: number;
  errors: number;
  clientCpuUsPerCall: number;
  firstError?: string;
}
interface SequentialResult {
  p50Us: number;
  p99Us: number;
  perS: number;
  mbPerS: number;
  errors: number;
}
interface StreamResult {
  mbPerS: number;
  bytes: number;
  totalBytes: number;
  errors: number;
  clientCpuUsPerMB: number;
  clientMajorGcs: number;
}
interface CpuUsage {
  user: number;
  system: number;
}

/** The server's CPU µs and major GCs so far. */
async function serverCounters(server: Worker): Promise<{ cpuUs: number; majorGcs: number }> {
  const c = await server.request<CpuUsage>('cpu');
  return { cpuUs: c.user + c.system, majorGcs: await server.request<number>('majorGcs') };
}

/** Bytes in the "per 100 MB" of major-GC counts (issue 16 counts mark-compacts per 100 MB streamed). */
const GC_PER_BYTES = 100e6;
const per100MB = (count: number, bytes: number) => count / Math.max(1e-9, bytes / GC_PER_BYTES);

export async function runGrpcSection(ctx: BenchContext): Promise<GrpcSection> {
  const q = ctx.quick;
  const settings = {
    inflight: 64,
    warmupMs: q ? 100 : 300,
    unaryMs: q ? 250 : 1500,
    sequentialMs: q ? 250 : 1000,
    sequentialPayloadBytes: 100,
    echoMs: q ? 250 : 1500,
    echoPayloadBytes: 1_000_000,
    streamMs: q ? 250 : 1500,
    streamMessageBytes: 64 * 1024,
    streamMessagesPerCall: q ? 16 : 128,
    tunedFlowControlWindow: OT_BOOKING_FLOW_CONTROL_WINDOW,
    newChannelCount: q ? 3 : 15,
    peerWarmupMs: q ? 50 : 200,
    peerMeasureMs: q ? 100 : 600,
    reps: ctx.reps,
  };
  const peerSettings: PeerSettings = {
    warmupMs: settings.peerWarmupMs,
    echoMs: settings.peerMeasureMs,
    echoPayloadBytes: settings.echoPayloadBytes,
    sequentialMs: settings.peerMeasureMs,
    sequentialPayloadBytes: settings.sequentialPayloadBytes,
    streamMs: settings.peerMeasureMs,
    streamMessageBytes: settings.streamMessageBytes,
    streamMessagesPerCall: settings.streamMessagesPerCall,
    tunedFlowControlWindow: settings.tunedFlowControlWindow,
    newChannelCount: settings.newChannelCount,
    newChannelMaxMs: q ? 5_000 : 15_000,
    unaryMs: settings.peerMeasureMs,
    inflight: settings.inflight,
  };
  const section: GrpcSection = { settings, modes: {}, skipped: {}, errors: {} };
  const pairs = new Map<Mode, { server: Worker; client: Worker }>();
  const peers: PeerServers = {
    servers: new Map(),
    versions: {},
    skipped: section.skipped,
    stateDir: join(ctx.tmpDir, 'peer-emulator-state'),
  };
  const values = new Map<GrpcMode, Map<GrpcMetric, number[]>>();
  const add = (mode: GrpcMode, metric: GrpcMetric, value: number) => {
    const m = values.get(mode) ?? new Map<GrpcMetric, number[]>();
    values.set(mode, m);
    m.set(metric, [...(m.get(metric) ?? []), value]);
  };
  const addErrors = (mode: GrpcMode, n: number) => {
    section.errors[mode] = (section.errors[mode] ?? 0) + n;
  };
  const failures = new Map<GrpcMode, Map<GrpcMetric, string[]>>();
  /**
   * Records a workload's figures, or, when it failed (calls failed, or nothing was measured for a
   * figure to be per), why: its cells are then reported as failed, never as numbers such as a CPU
   * time per MB of nothing streamed (issue 21 finding 8).
   */
  const record = (
    mode: GrpcMode,
    figures: Partial<Record<GrpcMetric, number>>,
    outcome: { errors: number; firstError?: string | undefined; measured: boolean },
  ) => {
    addErrors(mode, outcome.errors);
    const why =
      outcome.errors > 0
        ? `${outcome.errors} calls failed${outcome.firstError ? ` (${outcome.firstError})` : ''}`
        : outcome.measured
          ? undefined
          : 'nothing was measured';
    for (const [metric, value] of Object.entries(figures) as Array<[GrpcMetric, number]>) {
      add(mode, metric, value);
      if (why === undefined) continue;
      const m = failures.get(mode) ?? new Map<GrpcMetric, string[]>();
      failures.set(mode, m);
      m.set(metric, [...(m.get(metric) ?? []), why]);
    }
  };
  try {
    await startPairs(ctx, MODES, section.skipped, pairs);
    await startPeerServers(ctx, peers);
    section.peerVersions = peers.versions;
    for (const [mode, why] of Object.entries(peers.skipped)) ctx.log(`  ${mode} not measured: ${why}`);
    const timeout = 60_000;
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const [mode, { server, client }] of pairs) {
        ctx.checkBudget();
        const sequential = (payloadBytes: number, durationMs: number) =>
          client.request<SequentialResult>(
            'sequential',
            { payloadBytes, warmupMs: settings.warmupMs, durationMs },
            timeout,
          );
        const echo = await sequential(settings.echoPayloadBytes, settings.echoMs);
        record(mode, { echo1MBMBps: echo.mbPerS }, { errors: echo.errors, measured: echo.mbPerS > 0 });
        const s = await sequential(settings.sequentialPayloadBytes, settings.sequentialMs);
        record(
          mode,
          { seq100BPerS: s.perS, seqP50Us: s.p50Us, seqP99Us: s.p99Us },
          { errors: s.errors, measured: s.perS > 0 },
        );
        const streamed: string[] = [];
        for (const [windows, prefix] of STREAM_WINDOWS) {
          const before = await serverCounters(server);
          const st = await client.request<StreamResult>(
            'stream',
            {
              messageBytes: settings.streamMessageBytes,
              messagesPerCall: settings.streamMessagesPerCall,
              warmupMs: settings.warmupMs,
              durationMs: settings.streamMs,
              windows,
            },
            timeout,
          );
          const after = await serverCounters(server);
          // The server's counters span warm-up and measurement: divide by all it sent.
          record(
            mode,
            {
              [`${prefix}MBps`]: st.mbPerS,
              [`${prefix}ClientCpuUsPerMB`]: st.clientCpuUsPerMB,
              [`${prefix}ServerCpuUsPerMB`]:
                (after.cpuUs - before.cpuUs) / Math.max(1e-9, st.totalBytes / 1e6),
              [`${prefix}ClientMajorGcsPer100MB`]: per100MB(st.clientMajorGcs, st.bytes),
              [`${prefix}ServerMajorGcsPer100MB`]: per100MB(after.majorGcs - before.majorGcs, st.totalBytes),
            },
            { errors: st.errors, measured: st.bytes > 0 && st.totalBytes > 0 },
          );
          streamed.push(`${windows} ${fmt(st.mbPerS)}`);
        }
        const nc = await client.request<{ p50Ms: number; errors: number }>(
          'newChannel',
          { count: settings.newChannelCount, maxMs: q ? 5_000 : 15_000 },
          timeout,
        );
        record(
          mode,
          { newChannelMs: nc.p50Ms },
          { errors: nc.errors, measured: typeof nc.p50Ms === 'number' && nc.p50Ms > 0 },
        );
        for (const [metric, payloadBytes] of [
          ['unary1BQps', 1],
          ['unary1KiBQps', 1024],
        ] as const) {
          const before = await serverCounters(server);
          const r = await client.request<UnaryResult>(
            'unary',
            {
              payloadBytes,
              inflight: settings.inflight,
              warmupMs: settings.warmupMs,
              durationMs: settings.unaryMs,
            },
            timeout,
          );
          const serverUs = (await serverCounters(server)).cpuUs - before.cpuUs;
          record(
            mode,
            {
              [metric]: r.qps,
              ...(payloadBytes === 1
                ? {
                    unaryClientCpuUs: r.clientCpuUsPerCall,
                    unaryServerCpuUs: serverUs / Math.max(1, r.totalCalls),
                  }
                : {}),
            },
            { errors: r.errors, firstError: r.firstError, measured: r.totalCalls > 0 && r.qps > 0 },
          );
          if (r.firstError) ctx.log(`  ${mode} ${metric}: ${r.errors} errors, first: ${r.firstError}`);
        }
        const m = values.get(mode);
        ctx.log(
          `  rep ${rep + 1}/${ctx.reps} ${mode.padEnd(8)} echo 1 MB ${fmt(echo.mbPerS)} MB/s, ` +
            `seq 100 B ${fmt(s.perS)}/s (p50 ${fmt(s.p50Us)} µs), stream MB/s ${streamed.join(', ')}, ` +
            `new channel ${fmt(nc.p50Ms)} ms, unary 1 B ${fmt(m?.get('unary1BQps')?.at(-1))} qps`,
        );
      }
      for (const [mode, server] of peers.servers) {
        ctx.checkBudget();
        let figures: PeerFigures;
        try {
          figures = await runPeerCell(ctx, mode, server, peers.stateDir, peerSettings);
        } catch (err) {
          // A peer that fails is dropped, with the reason: the grpc-js cells go on.
          section.skipped[mode] =
            `failed in rep ${rep + 1}: ${err instanceof Error ? err.message : String(err)}`;
          ctx.log(`  ${mode} ${section.skipped[mode]}`);
          peers.servers.delete(mode);
          await server.stop();
          continue;
        }
        const measuredFigures: Partial<Record<GrpcMetric, number>> = {};
        for (const metric of GRPC_METRICS) {
          const v = figures[metric];
          if (typeof v === 'number' && Number.isFinite(v)) measuredFigures[metric] = v;
        }
        record(mode, measuredFigures, {
          errors: figures.errors,
          firstError: figures.firstError,
          measured: true,
        });
        if (figures.firstError) ctx.log(`  ${mode}: ${figures.errors} errors, first: ${figures.firstError}`);
        ctx.log(
          `  rep ${rep + 1}/${ctx.reps} ${mode.padEnd(8)} echo 1 MB ${fmt(figures.echo1MBMBps)} MB/s, ` +
            `seq 100 B ${fmt(figures.seq100BPerS)}/s (p50 ${fmt(figures.seqP50Us)} µs), stream MB/s ` +
            `default ${fmt(figures.streamMBps)}, tuned ${fmt(figures.tunedStreamMBps)}, ` +
            `new channel ${fmt(figures.newChannelMs)} ms, unary 1 B ${fmt(figures.unary1BQps)} qps (${PEER_LABELS[mode]})`,
        );
      }
    }
  } finally {
    await Promise.all([
      ...[...pairs.values()].flatMap(({ server, client }) => [client.stop(), server.stop()]),
      ...[...peers.servers.values()].map((s) => s.stop()),
    ]);
  }
  for (const [mode, metrics] of values) {
    const out: Partial<Record<GrpcMetric, Summary>> = {};
    for (const [metric, list] of metrics) out[metric] = summarize(list, failures.get(mode)?.get(metric));
    section.modes[mode] = out;
  }
  return section;
}
