// The issuing half of the zero-setup workflow (provision.ts), run as its own process:
//   node provision-child.js <state-dir> <service-account>...
// creates the state directory's trust root if missing and a bundle for each account that has
// none. The root's private key lives and dies in this process. Exit 0, or 1 with the reason on stderr.
import { bundlePathOf, rootDirOf } from './provision.js';
import { initRoot, issueBundle } from './trust.js';

const [stateDir, ...serviceAccounts] = process.argv.slice(2);
try {
  if (stateDir === undefined) throw new Error('usage: provision-child.js <state-dir> <service-account>...');
  const { root } = await initRoot(rootDirOf(stateDir));
  // A bundle that another emulator issued meanwhile is kept (issueBundle returns false): the
  // caller loads and checks whichever is there.
  for (const sa of serviceAccounts) await issueBundle(root, sa, bundlePathOf(stateDir, sa));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
