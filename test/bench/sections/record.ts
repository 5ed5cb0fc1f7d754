/**
 * Sections 1 and 2 come from the record-layer benchmark (test/bench/record-bench.ts), run as a
 * child with `--json` so that it measures in a process of its own:
 * (1) seal / open µs per frame at 1 KiB–1 MiB next to raw per-frame AES-128-GCM, one process;
 * (2) 64 KiB writes over loopback TCP, writer and reader in separate processes: plain TCP,
 * Node TLS 1.3 (TLS_AES_128_GCM_SHA256) and the ALTS protected stream at 16 KiB, 128 KiB, 1 MiB frames.
 * Its figures are medians of its own rounds (5 micro, 3 stream; 1 with --quick).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToCompletion } from '@grpc-alts/test-support/processes';
import type { BenchContext } from '../lib/context.js';
import { round, type Summary, summarize } from '../lib/stats.js';
import type { MicroRow, RecordBenchJson, StreamRow } from '../record-bench.js';

const RECORD_BENCH = fileURLToPath(new URL('../record-bench.js', import.meta.url));

export interface RecordSection {
  source: string;
  /** Frame payload → seal+open throughput (MB/s of the mean of one seal and one open, as record-bench prints). */
  micro: Array<
    MicroRow & {
      altsMBps: number;
      rawMBps: number;
      /** ALTS ÷ raw throughput. */
      ratio: number;
    }
  >;
  stream: Array<Omit<StreamRow, 'mbPerS' | 'mbPerSRuns'> & { mbPerS: Summary }>;
  /** record-bench's JSON as written. */
  raw: unknown;
}

function isRecordBenchJson(v: unknown): v is RecordBenchJson {
  const j = v as Partial<RecordBenchJson> | null;
  return Array.isArray(j?.micro) && Array.isArray(j?.stream);
}

export async function runRecordSection(ctx: BenchContext): Promise<RecordSection> {
  const file = join(ctx.tmpDir, 'record-bench.json');
  const args = [RECORD_BENCH, '--json', file, ...(ctx.quick ? ['--quick'] : [])];
  const r = await runToCompletion([process.execPath, ...args], ctx.quick ? 90_000 : 240_000);
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
      source: 'test/bench/record-bench.ts',
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
