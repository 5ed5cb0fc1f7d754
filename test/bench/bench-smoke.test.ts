// Smoke test of `npm run bench`: the quick run (tiny counts, one repetition) must finish and write
// well-formed results, into a temp dir: a test never touches the committed docs/bench. No timing is
// asserted: figures from a shared machine mean nothing here.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchResults } from './lib/results.js';
import { GRPC_METRICS } from './sections/grpc.js';
import { PEER_LABELS, type PeerMode } from './sections/peers.js';

const RUN = fileURLToPath(new URL('./run.js', import.meta.url));
const RUN_TIMEOUT_MS = 150_000;

function runQuick(
  out: string,
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; output: string }> {
  const args = [RUN, '--quick', '--reps', '1', '--out', out, '--budget-s', '120', ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_TIMEOUT_MS);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const isSummary = (s: unknown): boolean => {
  const v = s as { median?: unknown; values?: unknown };
  return typeof v?.median === 'number' && Array.isArray(v.values) && v.values.length >= 1;
};

describe('npm run bench -- --quick', { timeout: RUN_TIMEOUT_MS + 10_000 }, () => {
  let out: string;
  let run: { code: number | null; output: string };
  let results: BenchResults;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
    run = await runQuick(out);
    results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as BenchResults;
  });
  after(() => rm(out, { recursive: true, force: true }));

  it('exits 0 and reports on every section', () => {
    assert.equal(run.code, 0, run.output.slice(-4000));
    for (const s of ['1-2. record', '3. handshakes', '4. grpc-js', '5. RSS'])
      assert.match(run.output, new RegExp(s));
  });

  it('writes machine-readable results with the machine description', () => {
    assert.equal(results.schema, 1);
    assert.equal(results.quick, true);
    assert.ok(!Number.isNaN(Date.parse(results.date)));
    assert.ok(results.machine.cores >= 1);
    for (const k of ['cpuModel', 'node', 'openssl', 'grpcJs'] as const)
      assert.ok(results.machine[k].length > 0);
    assert.deepEqual(
      results.notes.filter((n) => n.includes('failed')),
      [],
    );
  });

  it('has figures for every mode of grpc-js, handshakes, memory and the record layer', () => {
    for (const mode of ['insecure', 'tls', 'alts'] as const) {
      const m = results.grpc?.modes[mode];
      assert.ok(m, `grpc ${mode}`);
      for (const metric of GRPC_METRICS) assert.ok(isSummary(m[metric]), `${mode} ${metric}`);
    }
    for (const c of ['c1', 'c10', 'c100', 'c300']) {
      const cell = results.handshakes?.modes.alts?.[c];
      assert.ok(cell && isSummary(cell.p50Ms) && isSummary(cell.perS), `handshakes ${c}`);
      assert.equal(cell.errors, 0, `handshake errors at ${c}: ${cell.firstError}`);
    }
    for (const mode of ['tls', 'alts'] as const) {
      const m = results.memory?.modes[mode];
      assert.ok(m && isSummary(m.serverKiBPerConn) && isSummary(m.clientKiBPerConn), `memory ${mode}`);
    }
    const record = results.record;
    assert.ok(record && record.micro.length >= 5, 'record micro');
    for (const m of record.micro) assert.ok(m.altsMBps > 0 && m.rawMBps > 0, `micro ${m.size}`);
    for (const t of ['tcp', 'tls', 'alts'] as const) {
      assert.ok(
        record.stream.some((s) => s.transport === t && isSummary(s.mbPerS)),
        `stream ${t}`,
      );
    }
  });

  it('measures grpc-go and C-core ALTS where the interop peers run, else says why in one line', async () => {
    const g = results.grpc;
    assert.ok(g);
    const md = await readFile(join(out, 'results.md'), 'utf8');
    for (const [mode, label] of Object.entries(PEER_LABELS) as [PeerMode, string][]) {
      const why = g.skipped[mode];
      if (why === undefined) {
        for (const metric of GRPC_METRICS.filter((m) => !m.includes('MajorGcs')))
          assert.ok(isSummary(g.modes[mode]?.[metric]), `${mode} ${metric}`);
        assert.equal(g.errors[mode] ?? 0, 0, `${label} errors`);
        assert.ok(g.peerVersions?.[mode], `${mode} version`);
      } else {
        assert.doesNotMatch(why, /^failed/, `${label}: ${why}`);
        assert.match(md, new RegExp(`${label}.* not measured: `));
      }
    }
  });

  it('evaluates the targets and writes the table and the chart', async () => {
    assert.ok(results.targets.length >= 8);
    for (const t of results.targets) assert.equal(typeof t.met, 'boolean', t.id);
    const md = await readFile(join(out, 'results.md'), 'utf8');
    assert.match(md, /\| Metric \| insecure \| TLS 1\.3 \| ALTS \|/);
    const svg = await readFile(join(out, 'chart.svg'), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg.trimEnd(), /<\/svg>$/);
  });
});

describe('npm run bench -- --quick --sections 4, without the interop peers', {
  timeout: RUN_TIMEOUT_MS + 10_000,
}, () => {
  let out: string;
  let run: { code: number | null; output: string };
  let results: BenchResults;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'bench-smoke-nopeers-'));
    const nowhere = join(out, 'no-such-peer');
    run = await runQuick(out, ['--sections', '4'], { ...process.env, GO_PEER: nowhere, PY_PEER: nowhere });
    results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as BenchResults;
  });
  after(() => rm(out, { recursive: true, force: true }));

  it('measures grpc-js as ever and says in one line each why the peers are not measured', async () => {
    assert.equal(run.code, 0, run.output.slice(-4000));
    for (const mode of ['insecure', 'tls', 'alts'] as const)
      assert.ok(isSummary(results.grpc?.modes[mode]?.echo1MBMBps), mode);
    const md = await readFile(join(out, 'results.md'), 'utf8');
    assert.match(md, /^grpc-go ALTS not measured: no go-peer at .*no-such-peer/m);
    assert.match(md, /^C-core ALTS not measured: no peer\.py at .*no-such-peer/m);
    assert.equal(results.grpc?.modes.go, undefined);
  });
});
