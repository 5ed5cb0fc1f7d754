/**
 * Sections 1 and 2 come from the record layer's own benchmark (packages/alts/src/bench/
 * record-bench.ts, owned by the record-layer author), run as a child with `--json` and kept as is:
 * (1) seal / open µs per frame at 1 KiB–1 MiB next to raw per-frame AES-128-GCM, one process;
 * (2) 64 KiB writes over loopback TCP, writer and reader in separate processes: plain TCP,
 * Node TLS 1.3 (TLS_AES_128_GCM_SHA256) and the ALTS protected stream at 16 KiB, 128 KiB, 1 MiB frames.
 * Its figures are medians of its own rounds (5 micro, 3 stream; 1 with --quick).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchContext, ROOT } from '../lib/context.js';
import { runToCompletion } from '../lib/processes.js';
import { round, type Summary, summarize } from '../lib/stats.js';

export const RECORD_BENCH = join(ROOT, 'packages/alts/dist/bench/record-bench.js');

/** One row of record-bench's `micro` (µs per frame, medians). */
interface MicroRow {
  size: number;
  altsSealUs: number;
  altsOpenUs: number;
  rawSealUs: number;
  rawOpenUs: number;
}
/** One row of record-bench's `stream`. */
interface StreamRow {
  name: string;
  transport: 'tcp' | 'tls' | 'alts';
  frameSize: number;
  mbPerS: number;
  mbPerSRuns: number[];
  readerCpuUsPerMB: number;
  writerCpuUsPerMB: number;
}
interface RecordBenchJson {
  micro: MicroRow[];
  stream: StreamRow[];
}

export interface RecordSection {
  source: string;
  /** Frame payload → seal+open throughput (MB/s of the mean of one seal and one open, as record-bench prints). */
  micro: Array<{
    size: number;
    altsSealUs: number;
    altsOpenUs: number;
    rawSealUs: number;
    rawOpenUs: number;
    altsMBps: number;
    rawMBps: number;
    /** ALTS ÷ raw throughput. */
    ratio: number;
  }>;
  stream: Array<{
    name: string;
    transport: 'tcp' | 'tls' | 'alts';
    frameSize: number;
    mbPerS: Summary;
    readerCpuUsPerMB: number;
    writerCpuUsPerMB: number;
  }>;
  /** record-bench's JSON as written. */
  raw: unknown;
}

function isRecordBenchJson(v: unknown): v is RecordBenchJson {
  const j = v as Partial<RecordBenchJson> | null;
  return Array.isArray(j?.micro) && Array.isArray(j?.stream);
}

export async function runRecordSection(ctx: BenchContext): Promise<RecordSection> {
  if (!existsSync(RECORD_BENCH)) throw new Error(`${RECORD_BENCH} is missing (build packages/alts first)`);
  const file = join(ctx.tmpDir, 'record-bench.json');
  const args = [RECORD_BENCH, '--json', file, ...(ctx.quick ? ['--quick'] : [])];
  const r = await runToCompletion(process.execPath, args, ctx.quick ? 90_000 : 240_000);
  try {
    if (r.code !== 0) {
      throw new Error(
        `record-bench exited with ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    }
    for (const line of r.stdout.trimEnd().split('\n')) ctx.log(`  | ${line}`);
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (!isRecordBenchJson(json)) throw new Error('record-bench JSON has no micro/stream arrays');
    return {
      source: 'packages/alts/dist/bench/record-bench.js',
      micro: json.micro.map((m) => {
        const altsMBps = m.size / ((m.altsSealUs + m.altsOpenUs) / 2);
        const rawMBps = m.size / ((m.rawSealUs + m.rawOpenUs) / 2);
        return { ...m, altsMBps: round(altsMBps), rawMBps: round(rawMBps), ratio: round(altsMBps / rawMBps) };
      }),
      stream: json.stream.map((s) => ({
        name: s.name,
        transport: s.transport,
        frameSize: s.frameSize,
        mbPerS: s.mbPerSRuns.length > 0 ? summarize(s.mbPerSRuns) : summarize([s.mbPerS]),
        readerCpuUsPerMB: round(s.readerCpuUsPerMB),
        writerCpuUsPerMB: round(s.writerCpuUsPerMB),
      })),
      raw: json,
    };
  } finally {
    rmSync(file, { force: true });
  }
}
