// The folder rule of docs/architecture.md ("Inside packages/alts-emulator"), checked on the sources:
// imports run one way, down the layers, and no module imports itself through others.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Each folder's layer: a module imports from its own folder or from a lower layer only. */
const LAYER: Readonly<Record<string, number>> = {
  common: 0,
  protocol: 1,
  state: 1,
  pki: 2,
  service: 2,
  net: 2,
  '.': 3,
  cli: 4,
};

/** What a test of a lower folder may use besides: the whole emulator, to drive its code through it. */
const TEST_HARNESS = new Set(['emulator.ts', 'emulator.test.util.ts']);

const IMPORT = /(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g;

function sources(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .map((f) => f.split('\\').join('/'))
    .filter((f) => f.endsWith('.ts'));
}

function importsOf(file: string): string[] {
  const text = readFileSync(`${SRC}${file}`, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => `${posix.join(posix.dirname(file), m[1] as string)}.ts`);
}

const isTest = (file: string) => /\.test(\.util)?\.ts$/.test(file);

test('every folder has a layer, and imports run down the layers only', () => {
  const wrong: string[] = [];
  for (const file of sources()) {
    const from = LAYER[posix.dirname(file)];
    assert.notEqual(from, undefined, `${file}: its folder has no layer in LAYER`);
    for (const target of importsOf(file)) {
      const dir = posix.dirname(target);
      const to = LAYER[dir] as number;
      const allowed =
        dir === posix.dirname(file) || to < (from as number) || (isTest(file) && TEST_HARNESS.has(target));
      if (!allowed) wrong.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no import cycle, within a folder either', () => {
  const graph = new Map(sources().map((f) => [f, importsOf(f)]));
  const done = new Set<string>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (path.includes(file)) {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    if (done.has(file)) return;
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});
