import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandLine } from './command-line.js';

const PROGRAM = {
  name: 'ot-booking-test',
  usage: 'Usage: ot-booking-test [--port <n>] <account>...\n',
  packageJson: new URL('../package.json', import.meta.url),
};

// --help, --version and a bad flag exit the process: test/e2e/cli.test.ts runs them in the programs.
test('parseCommandLine: the program options with defaults, positionals, help and version off', () => {
  const options = {
    port: { type: 'string', default: '8080' },
    json: { type: 'boolean', default: false },
  } as const;
  const given = parseCommandLine(PROGRAM, options, ['--port', '1234', 'a@x', 'b@x']);
  assert.deepEqual({ ...given.values }, { port: '1234', json: false, help: false, version: false });
  assert.deepEqual(given.positionals, ['a@x', 'b@x']);
  assert.equal(parseCommandLine(PROGRAM, options, []).values.port, '8080');
});
