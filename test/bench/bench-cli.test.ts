// `npm run bench` as a command: help, bad flags, and --render-only, which re-renders the table and
// the chart from a results.json without measuring. Nothing here writes outside a temp dir.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '@grpc-alts/test-support/processes';
import { ROOT } from './lib/context.js';
import { renderSvg } from './lib/report.js';
import type { BenchResults } from './lib/results.js';

const RUN = fileURLToPath(new URL('./run.js', import.meta.url));
const COMPARE = fileURLToPath(new URL('./compare.js', import.meta.url));
/** The committed results: real data for the renderers, read only. */
const PUBLISHED = join(ROOT, 'docs/bench/results.json');
const EXIT_USAGE = 2;
const POINTER = "Run 'npm run bench -- --help' for usage.";

const bench = (...args: string[]) => run(RUN, args);

describe('npm run bench -- --help and bad flags', () => {
  for (const flag of ['--help', '-h']) {
    it(`${flag} prints the usage and exits 0`, async () => {
      const r = await bench(flag);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: npm run bench -- \[options\]/);
      for (const option of ['--quick', '--write-docs', '--render-only', '--out DIR']) {
        assert.ok(r.stdout.includes(option), option);
      }
      assert.equal(r.stderr, '');
    });
  }

  for (const [args, line] of [
    [['--nope'], "bench: Unknown option '--nope'"],
    [['stray'], "bench: Unexpected argument 'stray'"],
    [['--reps', '0'], "bench: --reps must be a whole number 1-20, got '0'"],
    [['--sections', '1,9'], "bench: --sections must be a whole number 1-5, got '9'"],
    [['--out', 'x', '--write-docs'], 'bench: --out and --write-docs name two places: give one'],
  ] as const) {
    it(`${args.join(' ')}: one line and a pointer to --help, exit 2`, async () => {
      const r = await bench(...args);
      assert.deepEqual(r, { code: EXIT_USAGE, stdout: '', stderr: `${line}\n${POINTER}` });
    });
  }
});

describe('npm run bench -- --render-only', () => {
  let out: string;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'bench-render-'));
  });
  after(() => rm(out, { recursive: true, force: true }));

  it('says what is missing when there is no results.json', async () => {
    const r = await bench('--render-only', '--out', out);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no .*results\.json to render/);
  });

  it('re-renders results.md and chart.svg from results.json, which it leaves as it was', async () => {
    await copyFile(PUBLISHED, join(out, 'results.json'));
    const r = await bench('--render-only', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['chart.svg', 'results.json', 'results.md']);
    assert.equal(await readFile(join(out, 'results.json'), 'utf8'), await readFile(PUBLISHED, 'utf8'));
    assert.match(
      await readFile(join(out, 'results.md'), 'utf8'),
      /\| Metric \| insecure \| TLS 1\.3 \| ALTS \|/,
    );
  });
});

describe('npm run bench:compare -- --help and bad flags', () => {
  const compare = (...args: string[]) => run(COMPARE, args);
  const pointer = "Run 'npm run bench:compare -- --help' for usage.";
  let empty: string;
  before(async () => {
    empty = await mkdtemp(join(tmpdir(), 'bench-compare-'));
  });
  after(() => rm(empty, { recursive: true, force: true }));

  it('--help prints the usage and exits 0', async () => {
    const r = await compare('--help');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: npm run bench:compare -- --against DIR \[options\]/);
    for (const option of ['--rounds N', '--workloads LIST', '--pin'])
      assert.ok(r.stdout.includes(option), option);
  });

  it('names what is wrong in one line, with a pointer to --help, exit 2', async () => {
    for (const [args, line] of [
      [[], 'bench:compare: --against DIR is required: the checkout to compare against'],
      [['--against', ROOT, '--rounds', '0'], "bench:compare: --rounds must be a whole number 1-40, got '0'"],
      [
        ['--against', ROOT, '--workloads', 'echo,warp'],
        "bench:compare: --workloads takes echo,seq,stream,tuned,newch, got 'warp'",
      ],
    ] as const) {
      assert.deepEqual(await compare(...args), {
        code: EXIT_USAGE,
        stdout: '',
        stderr: `${line}\n${pointer}`,
      });
    }
  });

  it('refuses a directory that does not exist', async () => {
    const missing = join(empty, 'missing');
    assert.deepEqual(await compare('--against', missing), {
      code: EXIT_USAGE,
      stdout: '',
      stderr: `bench:compare: --against: ${missing} does not exist\n${pointer}`,
    });
  });

  it('refuses a checkout that is not built, saying how to build it', async () => {
    const r = await compare('--against', empty);
    assert.equal(r.code, EXIT_USAGE);
    assert.equal(
      r.stderr,
      `bench:compare: ${empty} has no built benchmark workers: run 'npm ci' there first\n${pointer}`,
    );
  });
});

describe('the chart', () => {
  let results: BenchResults;
  let svg: string;
  before(async () => {
    results = JSON.parse(await readFile(PUBLISHED, 'utf8')) as BenchResults;
    svg = renderSvg(results);
  });

  it('puts every ratio in the panel of its direction', () => {
    const higher = svg.indexOf('>Higher is better<');
    const lower = svg.indexOf('>Lower is better<');
    assert.ok(higher > 0 && lower > higher, 'two panels, higher is better first');
    for (const t of results.targets.filter((t) => !t.id.endsWith('errors'))) {
      const at = svg.indexOf(`>${t.label.replace(/&/g, '&amp;')}<`);
      assert.ok(t.op === '>=' ? at > higher && at < lower : at > lower, t.label);
    }
  });

  it('draws the 1× reference line in each panel, at the 1× tick', () => {
    const tick = /<text x="([\d.]+)"[^>]*font-weight="bold">1×<\/text>/g;
    const parity = /<line x1="([\d.]+)"[^>]*stroke-dasharray/g;
    const ticks = [...svg.matchAll(tick)].map((m) => m[1]);
    assert.equal(ticks.length, 2);
    assert.deepEqual(
      [...svg.matchAll(parity)].map((m) => m[1]),
      ticks,
    );
  });

  it('keeps one panel when every target points the same way', () => {
    const higherOnly = { ...results, targets: results.targets.filter((t) => t.op === '>=') };
    const one = renderSvg(higherOnly);
    assert.ok(one.includes('>Higher is better<') && !one.includes('>Lower is better<'));
    assert.match(one.trimEnd(), /<\/svg>$/);
  });
});
