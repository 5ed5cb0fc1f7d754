/**
 * Sections 1 and 2: the record layer. When the record layer's own benchmark exists
 * (packages/alts/dist/bench/record-bench.js, owned by the record-layer author) it is run and its
 * JSON kept as is; otherwise (or for the parts it lacks) this runs the same shapes itself:
 * (1) seal+open MB/s per frame size vs raw per-frame AES-128-GCM, in one process;
 * (2) a byte stream over loopback TCP between two processes: plain TCP, Node TLS 1.3
 * (TLS_AES_128_GCM_SHA256), and the ALTS protected stream.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchContext, profileArgv, ROOT } from '../lib/context.js';
import { runToCompletion, startWorker, type Worker } from '../lib/processes.js';
import { pushTo, type Summary, summarize } from '../lib/stats.js';

export const RECORD_BENCH = join(ROOT, 'packages/alts/dist/bench/record-bench.js');
const RECORD_WORKER = fileURLToPath(new URL('../workers/record.js', import.meta.url));
export const MICRO_SIZES = [1024, 4096, 16384, 65536, 1048576] as const;
export type StreamMode = 'tcp' | 'tls' | 'alts';
export const STREAM_MODES: readonly StreamMode[] = ['tcp', 'tls', 'alts'];

export interface RecordSection {
  /** Who produced the figures: 'record-bench' (the record layer's own) or 'test/bench'. */
  microSource: string;
  streamSource: string;
  /** The record layer bench's JSON, unchanged, when it ran. */
  recordBench?: unknown;
  recordBenchError?: string;
  /** Frame size → seal+open MB/s (ALTS crypter and raw per-frame AES-GCM), when measured here. */
  micro?: Record<string, { rawMBps: Summary; altsMBps: Summary; ratio: number }>;
  /** Mode → MB/s and receiver CPU µs per MB over loopback TCP, when measured here. */
  stream?: Partial<
    Record<StreamMode, { mbPerS: Summary; readerCpuUsPerMB: Summary; writerCpuUsPerMB: Summary }>
  >;
  streamSettings?: Record<string, number | string>;
  tlsNegotiated?: string;
  skipped?: string;
}

async function runRecordBench(ctx: BenchContext): Promise<{ json?: unknown; error?: string }> {
  if (!existsSync(RECORD_BENCH)) return { error: 'packages/alts/dist/bench/record-bench.js is not there' };
  const file = join(ctx.tmpDir, 'record-bench.json');
  const source = readFileSync(RECORD_BENCH, 'utf8');
  const args = [RECORD_BENCH, '--json', file];
  if (ctx.quick && source.includes('--quick')) args.push('--quick');
  const r = await runToCompletion(process.execPath, args, ctx.quick ? 60_000 : 240_000);
  try {
    if (r.code !== 0)
      return { error: `record-bench exited with ${r.code}: ${r.stderr.split('\n').slice(-3).join(' ')}` };
    return { json: JSON.parse(readFileSync(file, 'utf8')) as unknown };
  } catch (err) {
    return { error: `record-bench output unreadable: ${String(err)}` };
  } finally {
    rmSync(file, { force: true });
  }
}

export async function runRecordSection(ctx: BenchContext, sections: Set<number>): Promise<RecordSection> {
  const section: RecordSection = { microSource: 'test/bench', streamSource: 'test/bench' };
  if (ctx.useRecordBench) {
    const rb = await runRecordBench(ctx);
    if (rb.json !== undefined) {
      section.recordBench = rb.json;
      section.microSource = 'record-bench';
    } else if (rb.error) {
      section.recordBenchError = rb.error;
      ctx.log(`  record-bench not used: ${rb.error}`);
    }
  }
  const reps = ctx.quick ? 1 : ctx.reps;
  if (sections.has(1) && section.microSource !== 'record-bench') {
    const w = await startWorker('record-micro', RECORD_WORKER, {
      execArgv: profileArgv(ctx, 'record-micro'),
      onLog: (l) => ctx.childLog(l),
    });
    try {
      const raw: Record<string, number[]> = {};
      const alts: Record<string, number[]> = {};
      for (let rep = 0; rep < reps; rep++) {
        ctx.checkBudget();
        const r = await w.request<Record<string, { rawMBps: number; altsMBps: number }>>(
          'micro',
          { sizes: [...MICRO_SIZES], durationMs: ctx.quick ? 30 : 200 },
          60_000,
        );
        for (const [size, v] of Object.entries(r)) {
          pushTo(raw, size, v.rawMBps);
          pushTo(alts, size, v.altsMBps);
        }
      }
      section.micro = {};
      for (const size of Object.keys(raw)) {
        const rs = summarize(raw[size] ?? []);
        const as = summarize(alts[size] ?? []);
        section.micro[size] = {
          rawMBps: rs,
          altsMBps: as,
          ratio: Math.round((as.median / rs.median) * 1000) / 1000,
        };
        ctx.log(`  micro ${size} B: ALTS seal+open ${as.median} MB/s, raw AES-GCM ${rs.median} MB/s`);
      }
    } finally {
      await w.stop();
    }
  }
  if (sections.has(2)) await runStream(ctx, section, reps);
  return section;
}

async function runStream(ctx: BenchContext, section: RecordSection, reps: number): Promise<void> {
  const bytes = ctx.quick ? 8 * 1024 * 1024 : 192 * 1024 * 1024;
  const settings = { bytes, chunkBytes: 64 * 1024, writeFrameSize: 131072, reps };
  section.streamSettings = settings;
  const modes = STREAM_MODES.filter((m) => m !== 'tls' || !('skipped' in ctx.tls));
  const tlsFiles = 'skipped' in ctx.tls ? {} : ctx.tls;
  const mb: Record<string, number[]> = {};
  const readerCpu: Record<string, number[]> = {};
  const writerCpu: Record<string, number[]> = {};
  const workers: Worker[] = [];
  try {
    const reader = await startWorker('stream-reader', RECORD_WORKER, {
      execArgv: profileArgv(ctx, 'stream-reader'),
      onLog: (l) => ctx.childLog(l),
    });
    workers.push(reader);
    const writer = await startWorker('stream-writer', RECORD_WORKER, {
      execArgv: profileArgv(ctx, 'stream-writer'),
      onLog: (l) => ctx.childLog(l),
    });
    workers.push(writer);
    for (let rep = 0; rep < reps; rep++) {
      for (const mode of modes) {
        ctx.checkBudget();
        const common = { mode, ...tlsFiles, keyHex: randomBytes(44).toString('hex'), ...settings };
        const { port } = await reader.request<{ port: number }>('listen', common);
        const [got, sent] = await Promise.all([
          reader.request<{ mbPerS: number; cpuUsPerMB: number }>('received', {}, 120_000),
          writer.request<{ cpuUsPerMB: number; cipher?: string; protocol?: string }>(
            'send',
            { ...common, port },
            120_000,
          ),
        ]);
        if (sent.cipher) section.tlsNegotiated = `${sent.protocol} ${sent.cipher}`;
        pushTo(mb, mode, got.mbPerS);
        pushTo(readerCpu, mode, got.cpuUsPerMB);
        pushTo(writerCpu, mode, sent.cpuUsPerMB);
        ctx.log(`  rep ${rep + 1}/${reps} stream ${mode.padEnd(4)} ${got.mbPerS.toFixed(0)} MB/s`);
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  section.stream = {};
  for (const mode of Object.keys(mb)) {
    section.stream[mode as StreamMode] = {
      mbPerS: summarize(mb[mode] ?? []),
      readerCpuUsPerMB: summarize(readerCpu[mode] ?? []),
      writerCpuUsPerMB: summarize(writerCpu[mode] ?? []),
    };
  }
}
