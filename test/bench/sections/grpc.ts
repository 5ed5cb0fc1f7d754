/**
 * Section 4: grpc-js end to end, client and server in separate processes, for insecure, TLS 1.3
 * (TLS_AES_128_GCM_SHA256) and ALTS: unary QPS with 64 in flight (1 B, 1 KiB), sequential unary
 * p50/p99, server streaming MB/s with 64 KiB messages, new channel + first RPC.
 * Cells are interleaved (rep by rep, mode by mode) so that drifting machine load hits every mode alike.
 */
import { type BenchContext, startPairs } from '../lib/context.js';
import type { Worker } from '../lib/processes.js';
import { MODES, type Mode } from '../lib/services.js';
import { type Summary, summarize } from '../lib/stats.js';

export const GRPC_METRICS = [
  'unary1BQps',
  'unary1KiBQps',
  'seqP50Us',
  'seqP99Us',
  'streamMBps',
  'newChannelMs',
  'unaryClientCpuUs',
  'unaryServerCpuUs',
  'streamClientCpuUsPerMB',
  'streamServerCpuUsPerMB',
] as const;
export type GrpcMetric = (typeof GRPC_METRICS)[number];

export interface GrpcSection {
  settings: Record<string, number>;
  modes: Partial<Record<Mode, Partial<Record<GrpcMetric, Summary>>>>;
  skipped: Partial<Record<Mode, string>>;
  errors: Partial<Record<Mode, number>>;
}

interface UnaryResult {
  qps: number;
  totalCalls: number;
  errors: number;
  clientCpuUsPerCall: number;
  firstError?: string;
}
interface CpuUsage {
  user: number;
  system: number;
}

async function serverCpu(server: Worker): Promise<number> {
  const c = await server.request<CpuUsage>('cpu');
  return c.user + c.system;
}

export async function runGrpcSection(ctx: BenchContext): Promise<GrpcSection> {
  const q = ctx.quick;
  const settings = {
    inflight: 64,
    warmupMs: q ? 100 : 300,
    unaryMs: q ? 250 : 1500,
    sequentialMs: q ? 250 : 1000,
    streamMs: q ? 250 : 1500,
    streamMessageBytes: 64 * 1024,
    streamMessagesPerCall: q ? 16 : 128,
    newChannelCount: q ? 3 : 15,
    reps: ctx.reps,
  };
  const section: GrpcSection = { settings, modes: {}, skipped: {}, errors: {} };
  const pairs = new Map<Mode, { server: Worker; client: Worker }>();
  const values = new Map<Mode, Map<GrpcMetric, number[]>>();
  const add = (mode: Mode, metric: GrpcMetric, value: number) => {
    const m = values.get(mode) ?? new Map<GrpcMetric, number[]>();
    values.set(mode, m);
    m.set(metric, [...(m.get(metric) ?? []), value]);
  };
  const addErrors = (mode: Mode, n: number) => {
    section.errors[mode] = (section.errors[mode] ?? 0) + n;
  };
  try {
    await startPairs(ctx, MODES, section.skipped, pairs);
    const timeout = 60_000;
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const [mode, { server, client }] of pairs) {
        ctx.checkBudget();
        for (const [metric, payloadBytes] of [
          ['unary1BQps', 1],
          ['unary1KiBQps', 1024],
        ] as const) {
          const before = await serverCpu(server);
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
          const serverUs = (await serverCpu(server)) - before;
          add(mode, metric, r.qps);
          if (payloadBytes === 1) {
            add(mode, 'unaryClientCpuUs', r.clientCpuUsPerCall);
            add(mode, 'unaryServerCpuUs', serverUs / Math.max(1, r.totalCalls));
          }
          addErrors(mode, r.errors);
          if (r.firstError) ctx.log(`  ${mode} ${metric}: ${r.errors} errors, first: ${r.firstError}`);
        }
        const s = await client.request<{ p50Us: number; p99Us: number; errors: number }>(
          'sequential',
          { payloadBytes: 1, warmupMs: settings.warmupMs, durationMs: settings.sequentialMs },
          timeout,
        );
        add(mode, 'seqP50Us', s.p50Us);
        add(mode, 'seqP99Us', s.p99Us);
        addErrors(mode, s.errors);
        const before = await serverCpu(server);
        const st = await client.request<{
          mbPerS: number;
          totalBytes: number;
          errors: number;
          clientCpuUsPerMB: number;
        }>(
          'stream',
          {
            messageBytes: settings.streamMessageBytes,
            messagesPerCall: settings.streamMessagesPerCall,
            warmupMs: settings.warmupMs,
            durationMs: settings.streamMs,
          },
          timeout,
        );
        const serverUs = (await serverCpu(server)) - before;
        add(mode, 'streamMBps', st.mbPerS);
        add(mode, 'streamClientCpuUsPerMB', st.clientCpuUsPerMB);
        add(mode, 'streamServerCpuUsPerMB', serverUs / Math.max(1e-9, st.totalBytes / 1e6));
        addErrors(mode, st.errors);
        const nc = await client.request<{ p50Ms: number; errors: number }>(
          'newChannel',
          { count: settings.newChannelCount, maxMs: q ? 5_000 : 15_000 },
          timeout,
        );
        add(mode, 'newChannelMs', nc.p50Ms);
        addErrors(mode, nc.errors);
        const m = values.get(mode);
        ctx.log(
          `  rep ${rep + 1}/${ctx.reps} ${mode.padEnd(8)} unary1B ${fmt(m?.get('unary1BQps')?.at(-1))} qps, ` +
            `1KiB ${fmt(m?.get('unary1KiBQps')?.at(-1))} qps, seq p50 ${fmt(s.p50Us)} µs, ` +
            `stream ${fmt(st.mbPerS)} MB/s, new channel ${fmt(nc.p50Ms)} ms`,
        );
      }
    }
  } finally {
    await Promise.all([...pairs.values()].flatMap(({ server, client }) => [client.stop(), server.stop()]));
  }
  for (const [mode, metrics] of values) {
    const out: Partial<Record<GrpcMetric, Summary>> = {};
    for (const [metric, list] of metrics) out[metric] = summarize(list);
    section.modes[mode] = out;
  }
  return section;
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v >= 100 ? v.toFixed(0) : v.toFixed(2);
}
