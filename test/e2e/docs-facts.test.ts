// Issue 21 finding 9: statements of the READMEs that a user acts on are checked against what
// they describe, so that they cannot drift from it again.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { ALTS_ERROR_STATUS } from '@grpc-alts/alts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const README = read('README.md');
const NUMBERS: Readonly<Record<string, number>> = { one: 1, two: 2, three: 3, four: 4, five: 5 };

describe('issue 21 finding 9: what the docs say is true', () => {
  it('the README counts the default bookings file’s bookings right', () => {
    const bookings = JSON.parse(read('apps/server/data/bookings.json')) as unknown[];
    const said = /`apps\/server\/data\/bookings\.json`, which\s+holds (\w+) bookings/.exec(README)?.[1] ?? '';
    assert.equal(NUMBERS[said] ?? Number(said), bookings.length, `the README says "${said}"`);
  });

  it('the alts README’s pointer holds: the error codes page and the README list every code with its status', () => {
    const page = 'docs/api/@grpc-alts/alts/variables/ALTS_ERROR_STATUS.md';
    assert.ok(
      read('packages/alts/README.md').includes(`/blob/main/${page})`),
      'the alts README links the page',
    );
    const listed = read(page);
    for (const [code, grpcStatus] of Object.entries(ALTS_ERROR_STATUS)) {
      assert.ok(listed.includes(`### ${code.replaceAll('_', '\\_')}`), `${code} on the error codes page`);
      const row = new RegExp(`^\\| \`${code}\` +\\| ${status[grpcStatus]} +\\|`, 'm');
      assert.match(README, row, code);
    }
  });

  it('the Go and Python recipes say what they need besides the command', () => {
    assert.match(README, /# Go .*GOPATH mode.*GO111MODULE=off GOPATH=\/usr\/share\/gocode/s);
    assert.match(README, /# Python .*python3-grpcio for \/usr\/bin\/python3/s);
  });

  it('"as on Google Cloud" names grpc-go and C-core’s UNAVAILABLE, and grpc-java’s UNKNOWN', () => {
    assert.match(
      README,
      /the statuses are the ones\s+grpc-go and C-core report; the grpc-java tutorial shows UNKNOWN/,
    );
  });
});
