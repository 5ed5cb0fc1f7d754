// Issue 21 finding 8: on a busy machine every ALTS call of a quick run timed out, a progress line
// crashed on a null latency, and the report printed "client CPU per MB 298,297,000,000,000 µs"
// and ratios of 77 904 674 850×. A failed or impossible measurement is reported as failed, with
// its reason, and never enters a ratio or a target.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ROOT } from './lib/context.js';
import { renderMarkdown, renderSvg } from './lib/report.js';
import type { BenchResults } from './lib/results.js';
import { fmt, summarize } from './lib/stats.js';
import { evaluateTargets } from './lib/targets.js';

const PUBLISHED = join(ROOT, 'docs/bench/results.json');
const TIMED_OUT = '64 calls failed (DEADLINE_EXCEEDED)';
/** What a streaming cell with nothing streamed computed: CPU µs over Math.max(1e-9, 0 MB). */
const CPU_PER_NOTHING = 298_297_000_000_000;

describe('issue 21 finding 8: a failed or implausible measurement is never printed as a figure', () => {
  let results: BenchResults;
  before(async () => {
    results = JSON.parse(await readFile(PUBLISHED, 'utf8')) as BenchResults;
    const alts = results.grpc?.modes.alts;
    assert.ok(alts, 'the published results have ALTS cells');
    alts.streamClientCpuUsPerMB = summarize([CPU_PER_NOTHING], [TIMED_OUT]);
    alts.unary1BQps = summarize([0], [TIMED_OUT]);
    // NaN comes back from a worker's JSON as null.
    alts.seqP50Us = summarize([null as unknown as number]);
    const c300 = results.handshakes?.modes.alts?.c300;
    assert.ok(c300);
    c300.p50Ms = summarize([null as unknown as number], ['no handshake completed (timeout)']);
    results.targets = evaluateTargets(results);
  });

  it('summarize: reasons given and non-finite values fail the cell', () => {
    assert.equal(summarize([1, 2], ['x failed', 'x failed']).failed, 'x failed');
    assert.equal(summarize([1, Number.NaN]).failed, 'impossible value NaN');
    assert.equal(summarize([]).failed, 'nothing was measured');
    assert.equal(summarize([-1.5, 2]).failed, undefined, 'RSS growth may be negative');
    assert.deepEqual(
      [fmt(null), fmt(undefined), fmt(Number.NaN), fmt(12.345), fmt(1234.5)],
      ['-', '-', '-', '12.35', '1235'],
    );
  });

  it('the table shows each failed cell as failed with its reason, and no ratio for its row', () => {
    const md = renderMarkdown(results);
    assert.doesNotMatch(md, /298,297|77,904|toFixed/);
    const row = (label: string) => md.split('\n').find((l) => l.startsWith(`| ${label} |`)) ?? '';
    const cpu = row('… client CPU per MB (µs)');
    assert.ok(cpu.includes(`| failed: ${TIMED_OUT} |`), cpu);
    assert.equal(cpu.split('|')[4]?.trim(), `failed: ${TIMED_OUT}`, 'the ALTS column');
    assert.deepEqual(
      cpu
        .split('|')
        .slice(5, 7)
        .map((c) => c.trim()),
      ['n/a', 'n/a'],
      'no ratio from a failed cell',
    );
    assert.ok(row('Unary QPS, 1 B, 64 in flight').includes(`failed: ${TIMED_OUT}`));
    assert.ok(row('100 B sequential p50 (µs)').includes('failed: impossible value null'));
    assert.match(md, /\n\| 300 \| [^|]+ \| failed: no handshake completed \(timeout\)[^|]* \|/);
    assert.match(md, /completed, p50 n\/a ms/, 'the 300-handshake target names no failed latency');
  });

  it('a target over a failed cell is not met, shows no ratio and names the failure', () => {
    const qps = results.targets.find((t) => t.id === 'unary-qps-vs-tls');
    assert.ok(qps);
    assert.equal(qps.met, false);
    assert.ok(Number.isNaN(qps.value));
    assert.equal(qps.detail, `failed: ${TIMED_OUT}`);
    const md = renderMarkdown(results);
    assert.ok(md.includes(`| ${qps.label} | n/a | >= 1 | **no** | failed: ${TIMED_OUT} |`), md);
    assert.match(renderSvg(results), /n\/a/);
  });
});
