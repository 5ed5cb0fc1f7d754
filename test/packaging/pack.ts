// Packs the published workspaces with npm, as `npm publish` would, for the packaging checks.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from test/dist/packaging/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Settings an outer `npm run`/`npm test` exports to its children that would make an inner npm
 * act on the wrong project (e.g. `npm test --workspace=x` → npm_config_workspace).
 */
const INHERITED_NPM_STATE =
  /^npm_(config_(local_prefix|workspaces?|include_workspace_root)$|package_|lifecycle_)/;

/** The environment for an npm child process: ours, without the outer npm's project state. */
export function npmEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !INHERITED_NPM_STATE.test(key)));
}

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  workspaces?: string[];
}

function readManifest(directory: string): Manifest {
  return JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as Manifest;
}

/** The workspaces that are published: every one not marked private. */
export function publishedWorkspaces(): string[] {
  return (readManifest(REPO_ROOT).workspaces ?? []).filter(
    (dir) => readManifest(join(REPO_ROOT, dir)).private !== true,
  );
}

export interface PackedPackage {
  name: string;
  version: string;
  /** The workspace directory, relative to the repository root. */
  workspace: string;
  /** Absolute path of the .tgz. */
  tarball: string;
  /** Paths inside the package, as npm packed them. */
  files: string[];
}

interface NpmPackEntry {
  name: string;
  version: string;
  filename: string;
  files: { path: string }[];
}

/** Packs every published workspace into `destination`. */
export function packAll(destination: string): PackedPackage[] {
  const workspaces = publishedWorkspaces();
  const stdout = execFileSync(
    'npm',
    ['pack', '--json', '--pack-destination', destination, ...workspaces.map((w) => `--workspace=${w}`)],
    { cwd: REPO_ROOT, encoding: 'utf8', env: npmEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const entries = JSON.parse(stdout) as NpmPackEntry[];
  return entries.map((entry) => {
    const workspace = workspaces.find((w) => readManifest(join(REPO_ROOT, w)).name === entry.name);
    if (workspace === undefined) throw new Error(`npm packed ${entry.name}, which is no published workspace`);
    return {
      name: entry.name,
      version: entry.version,
      workspace,
      tarball: join(destination, entry.filename),
      files: entry.files.map((f) => f.path),
    };
  });
}
