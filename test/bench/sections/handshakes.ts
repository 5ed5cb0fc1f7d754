/**
 * Section 3: handshakes against the emulator (one emulated VM per side), client and server in
 * separate processes. Each handshake is a new channel with its own connection, timed from creation
 * to READY (TCP connect + handshake + HTTP/2 settings). At concurrency above the limit of 100 the
 * queue must show as latency, never as errors. TLS 1.3 is measured alike, for reference.
 */

import type { Worker } from '@grpc-alts/test-support/processes';
import { type BenchContext, startPairs } from '../lib/context.js';
import type { Mode } from '../lib/services.js';
import { fmt, type Summary, summarize } from '../lib/stats.js';

export const HANDSHAKE_CONCURRENCY = [1, 10, 100, 300] as const;

export interface HandshakeCell {
  perS: Summary;
  p50Ms: Summary;
  p99Ms: Summary;
  completed: number;
  errors: number;
  firstError?: string;
}

export interface HandshakeSection {
  settings: Record<string, unknown>;
  modes: Partial<Record<Mode, Record<string, HandshakeCell>>>;
  skipped: Partial<Record<Mode, string>>;
}

interface Result {
  perS: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  errors: number;
  firstError?: string;
}

export async function runHandshakeSection(ctx: BenchContext): Promise<HandshakeSection> {
  const totals: Record<number, number> = ctx.quick
    ? { 1: 3, 10: 10, 100: 100, 300: 300 }
    : { 1: 30, 10: 100, 100: 300, 300: 600 };
  const reps = ctx.quick ? 1 : ctx.reps;
  const section: HandshakeSection = {
    settings: { concurrency: [...HANDSHAKE_CONCURRENCY], totals, reps, timeoutMs: 30_000 },
    modes: {},
    skipped: {},
  };
  const modes: Mode[] = ['alts', 'tls'];
  const pairs = new Map<Mode, { server: Worker; client: Worker }>();
  const raw = new Map<string, Result[]>();
  try {
    await startPairs(ctx, modes, section.skipped, pairs);
    for (let rep = 0; rep < reps; rep++) {
      for (const c of HANDSHAKE_CONCURRENCY) {
        for (const [mode, { client }] of pairs) {
          ctx.checkBudget();
          const r = await client.request<Result>(
            'handshakes',
            { concurrency: c, total: totals[c] ?? c, timeoutMs: 30_000, maxMs: 45_000 },
            90_000,
          );
          const key = `${mode}/${c}`;
          raw.set(key, [...(raw.get(key) ?? []), r]);
          // A run where every handshake failed has no latencies: null in the worker's JSON.
          ctx.log(
            `  rep ${rep + 1}/${reps} ${mode.padEnd(4)} c=${String(c).padStart(3)}: ${fmt(r.perS, 0)}/s, ` +
              `p50 ${fmt(r.p50Ms, 1)} ms, p99 ${fmt(r.p99Ms, 1)} ms, ${r.errors} errors` +
              (r.firstError ? ` (${r.firstError})` : ''),
          );
        }
      }
    }
  } finally {
    await Promise.all([...pairs.values()].flatMap(({ server, client }) => [client.stop(), server.stop()]));
  }
  for (const [key, results] of raw) {
    const [mode, c] = key.split('/') as [Mode, string];
    const firstError = results.find((r) => r.firstError)?.firstError;
    // Errors have their own column; a run in which no handshake completed has no rate or latency.
    const failures = results
      .filter((r) => r.completed === 0)
      .map((r) => `no handshake completed${r.firstError ? ` (${r.firstError})` : ''}`);
    const cell: HandshakeCell = {
      perS: summarize(
        results.map((r) => r.perS),
        failures,
      ),
      p50Ms: summarize(
        results.map((r) => r.p50Ms),
        failures,
      ),
      p99Ms: summarize(
        results.map((r) => r.p99Ms),
        failures,
      ),
      completed: results.reduce((a, r) => a + r.completed, 0),
      errors: results.reduce((a, r) => a + r.errors, 0),
      ...(firstError ? { firstError } : {}),
    };
    section.modes[mode] = { ...section.modes[mode], [`c${c}`]: cell };
  }
  return section;
}
