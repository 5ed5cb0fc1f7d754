/** The machine a benchmark ran on, and how busy it was. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, release, totalmem, type } from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  openssl: string;
  v8: string;
  grpcJs: string;
}

function grpcJsVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('@grpc/grpc-js/package.json');
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    v8: process.versions.v8,
    grpcJs: grpcJsVersion(),
  };
}

/** The 1-minute load average. */
export function load1(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}
