/**
 * Section 5: RSS per idle connection. Fresh server and client processes per repetition (run with
 * --expose-gc); after warm-up connections, N more connections are opened (one RPC each, then idle)
 * and the RSS growth of each process, after GC, is divided by N.
 */

import type { Worker } from '@grpc-alts/test-support/processes';
import { type BenchContext, modeAvailable, startClient, startServer } from '../lib/context.js';
import type { Mode } from '../lib/services.js';
import { fmt, pushTo, type Summary, summarize } from '../lib/stats.js';

export interface MemorySection {
  settings: Record<string, number>;
  modes: Partial<Record<Mode, { serverKiBPerConn: Summary; clientKiBPerConn: Summary; errors: number }>>;
  skipped: Partial<Record<Mode, string>>;
}

interface Opened {
  opened: number;
  errors: number;
  open: number;
  firstError?: string;
}

export async function runMemorySection(ctx: BenchContext): Promise<MemorySection> {
  const settings = {
    connections: ctx.quick ? 20 : 1000,
    warmupConnections: ctx.quick ? 5 : 50,
    concurrency: ctx.quick ? 10 : 100,
    reps: ctx.quick ? 1 : ctx.reps,
  };
  const section: MemorySection = { settings, modes: {}, skipped: {} };
  const modes: Mode[] = ['insecure', 'tls', 'alts'];
  const server: Record<string, number[]> = {};
  const client: Record<string, number[]> = {};
  const errors: Record<string, number> = {};
  /** Why a mode's figures failed: growth per connection is only a figure over connections opened cleanly. */
  const failures: Record<string, string[]> = {};
  for (let rep = 0; rep < settings.reps; rep++) {
    for (const mode of modes) {
      const why = modeAvailable(ctx, mode);
      if (why) {
        section.skipped[mode] = why;
        continue;
      }
      ctx.checkBudget();
      const workers: Worker[] = [];
      try {
        const s = await startServer(ctx, mode, ['--expose-gc']);
        workers.push(s);
        const c = await startClient(ctx, mode, Number(s.info.port), ['--expose-gc']);
        workers.push(c);
        const open = (count: number) =>
          c.request<Opened>(
            'openConnections',
            { count, concurrency: settings.concurrency, maxMs: 120_000 },
            150_000,
          );
        const warm = await open(settings.warmupConnections);
        const s0 = await s.request<number>('rss');
        const c0 = await c.request<number>('rss');
        const r = await open(settings.connections);
        await new Promise((resolve) => setTimeout(resolve, ctx.quick ? 100 : 500));
        const s1 = await s.request<number>('rss');
        const c1 = await c.request<number>('rss');
        const n = Math.max(1, r.opened);
        const sk = (s1 - s0) / n / 1024;
        const ck = (c1 - c0) / n / 1024;
        pushTo(server, mode, sk);
        pushTo(client, mode, ck);
        errors[mode] = (errors[mode] ?? 0) + r.errors + warm.errors;
        if (r.opened === 0 || r.errors + warm.errors > 0) {
          failures[mode] = [
            ...(failures[mode] ?? []),
            `${r.opened} connections opened, ${r.errors + warm.errors} failed` +
              (r.firstError ? ` (${r.firstError})` : ''),
          ];
        }
        ctx.log(
          `  rep ${rep + 1}/${settings.reps} ${mode.padEnd(8)} ${r.opened} connections: server ` +
            `+${fmt(sk, 1)} KiB/conn, client +${fmt(ck, 1)} KiB/conn, ${r.errors} errors` +
            (r.firstError ? ` (${r.firstError})` : ''),
        );
      } finally {
        await Promise.all(workers.reverse().map((w) => w.stop()));
      }
    }
  }
  for (const mode of modes) {
    const sv = server[mode];
    const cv = client[mode];
    if (!sv || !cv) continue;
    section.modes[mode] = {
      serverKiBPerConn: summarize(sv, failures[mode]),
      clientKiBPerConn: summarize(cv, failures[mode]),
      errors: errors[mode] ?? 0,
    };
  }
  return section;
}
