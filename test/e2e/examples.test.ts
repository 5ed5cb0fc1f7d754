// Every example in examples/ runs as its README says and prints what the README shows.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { PROGRAMS, runUnavailable } from '@grpc-alts/test-support/processes';
import { REPO_ROOT } from '../packaging/pack.js';
import { documentedOutput, readmeBlocks, shellCommands } from '../packaging/readme-commands.js';

const execFileAsync = promisify(execFile);

/** Modules the examples share; not examples themselves. */
const HELPERS = new Set(['handshakers', 'greeter']);
/** Node's start-up, a few emulators and a few handshakes (under `run`, a sandbox too), on a loaded machine. */
const EXAMPLE_TIMEOUT_MS = 60_000;

const blocks = readmeBlocks('examples');
const script = (command: readonly string[]) => command.find((word) => word.startsWith('examples/dist/'));
const commands = shellCommands(blocks).filter((command) => script(command) !== undefined);

describe('examples/', () => {
  let stateHome: string;
  before(async () => {
    stateHome = await mkdtemp(join(tmpdir(), 'alts-examples-'));
  });
  after(() => rm(stateHome, { recursive: true, force: true }));

  it('the README runs every example in examples/src', async () => {
    const sources = (await readdir(join(REPO_ROOT, 'examples', 'src')))
      .map((file) => basename(file, '.ts'))
      .filter((name) => !HELPERS.has(name));
    const documented = commands.map((command) => basename(script(command) ?? '', '.js'));
    assert.deepEqual(documented.sort(), sources.sort());
  });

  for (const command of commands) {
    const file = script(command) ?? '';
    it(`${basename(file, '.js')} prints what the README shows`, {
      timeout: EXAMPLE_TIMEOUT_MS,
    }, async (t: TestContext) => {
      const [program, ...args] = command as [string, ...string[]];
      if (args[0] === 'alts-emulator' && args[1] === 'run') {
        const why = runUnavailable(
          PROGRAMS.emulator,
          stateHome,
          'probe@example-project.iam.gserviceaccount.com',
        );
        if (why) return t.skip(why);
      }
      const { stdout } = await execFileAsync(program === 'node' ? process.execPath : program, args, {
        cwd: REPO_ROOT,
        // The emulators' default state directory, for `alts-emulator run` without --state-dir.
        env: { ...process.env, XDG_STATE_HOME: stateHome },
        timeout: EXAMPLE_TIMEOUT_MS,
      });
      assert.deepEqual(stdout.trimEnd().split('\n'), documentedOutput(blocks, file));
    });
  }
});
