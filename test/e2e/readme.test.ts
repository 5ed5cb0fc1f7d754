// Every TypeScript block of the README must type-check against the real packages, so the
// documentation cannot drift from the API.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

it('README TypeScript examples compile', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  assert.ok(blocks.length >= 2, 'the README has TypeScript examples');
  // Inside test/ so that package imports resolve through the workspace's node_modules.
  const dir = join(root, 'test', '.readme-check');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const files = blocks.map((code, i) => {
      const file = join(dir, `example-${i}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      return file;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.base.json',
        compilerOptions: {
          noEmit: true,
          composite: false,
          declaration: false,
          declarationMap: false,
          sourceMap: false,
        },
        files,
      }),
    );
    try {
      execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')], {
        encoding: 'utf8',
      });
    } catch (err) {
      assert.fail(`README examples do not compile:\n${(err as { stdout?: string }).stdout ?? String(err)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
