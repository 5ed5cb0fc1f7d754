// The commands and files a package README shows, taken from the README itself so that the
// packaging test runs what users read, not a copy that can drift.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './pack.js';

export interface FencedBlock {
  /** The info string: `sh`, `js`, `ts`, … */
  lang: string;
  code: string;
}

/** The fenced code blocks of a workspace's README.md, in order. */
export function readmeBlocks(workspace: string): FencedBlock[] {
  const readme = readFileSync(join(REPO_ROOT, workspace, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1] ?? '',
    code: m[2] ?? '',
  }));
}

/**
 * The shell commands of the `sh` blocks: comments dropped, `\` continuations joined, a trailing
 * `&` removed, split into words. Quotes and expansions are refused rather than half-understood,
 * so a README command this cannot run as written fails the test instead of running differently.
 */
export function shellCommands(blocks: readonly FencedBlock[]): string[][] {
  return blocks
    .filter((b) => b.lang === 'sh')
    .flatMap((b) => b.code.replace(/\\\n/g, ' ').split('\n'))
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => {
      if (/["'`$;|<>()]/.test(line)) throw new Error(`README command needs a shell: ${line}`);
      return line.replace(/\s*&$/, '').split(/\s+/);
    });
}

/**
 * The output a README block documents for a command: the `# …` comment lines right after the
 * line that ends with `command`.
 */
export function documentedOutput(blocks: readonly FencedBlock[], command: string): string[] {
  for (const block of blocks) {
    const lines = block.code.split('\n');
    const at = lines.findIndex((l) => l.trim().endsWith(command));
    if (at < 0) continue;
    const output: string[] = [];
    for (const line of lines.slice(at + 1)) {
      const comment = /^# (.*)$/.exec(line);
      if (!comment?.[1]) break;
      output.push(comment[1]);
    }
    return output;
  }
  throw new Error(`no README block runs ${command}`);
}

/** The block whose first line is `// <name>`: a file the README tells the user to create. */
export function readmeFile(blocks: readonly FencedBlock[], name: string): string {
  const block = blocks.find((b) => b.code.startsWith(`// ${name}\n`));
  if (!block) throw new Error(`the README shows no file ${name}`);
  return block.code;
}
