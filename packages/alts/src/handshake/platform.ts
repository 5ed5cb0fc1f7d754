import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Linux exposes the VM's product name here; GCE sets it (docs/protocol.md §3.12, identical in
 * go/java/C-core).
 */
const LINUX_PRODUCT_NAME_FILE = '/sys/class/dmi/id/product_name';
/** C-core reads at most this many bytes of the product name. */
const MAX_PRODUCT_NAME_BYTES = 256;
const GCP_PRODUCT_NAMES = new Set(['Google', 'Google Compute Engine']);
/** Bound on the Windows BIOS query (grpc-java runs the same powershell command). */
const WINDOWS_QUERY_TIMEOUT_MS = 5_000;

/** Reads the platform's product/manufacturer name, or undefined when it cannot be read. */
export type ProductNameReader = () => string | undefined;

function readLinuxProductName(): string | undefined {
  try {
    return readFileSync(LINUX_PRODUCT_NAME_FILE).subarray(0, MAX_PRODUCT_NAME_BYTES).toString('utf8');
  } catch {
    return undefined;
  }
}

/** grpc-java: `Get-WmiObject -Class Win32_BIOS`, the line starting `Manufacturer`, value after `:`. */
function readWindowsManufacturer(): string | undefined {
  try {
    const out = execFileSync('powershell.exe', ['Get-WmiObject', '-Class', 'Win32_BIOS'], {
      encoding: 'utf8',
      timeout: WINDOWS_QUERY_TIMEOUT_MS,
      windowsHide: true,
    });
    const line = out.split(/\r?\n/).find((l) => l.startsWith('Manufacturer'));
    return line?.slice(line.indexOf(':') + 1);
  } catch {
    return undefined;
  }
}

/** True when the product name (trimmed) says this machine is a Google Cloud VM. */
export function isGcpProductName(name: string | undefined): boolean {
  return name !== undefined && GCP_PRODUCT_NAMES.has(name.trim());
}

function defaultReader(platform: NodeJS.Platform): ProductNameReader | undefined {
  if (platform === 'linux') return readLinuxProductName;
  if (platform === 'win32') return readWindowsManufacturer;
  return undefined;
}

let cachedOnGcp: boolean | undefined;
let readerForTesting: ProductNameReader | undefined;

/** Test seam, kept out of the public options: replaces the product-name reader (undefined restores it). */
export function setProductNameReaderForTesting(reader: ProductNameReader | undefined): void {
  readerForTesting = reader;
}

/**
 * Whether this process runs on a Google Cloud VM. The default check is computed once and cached
 * (the platform cannot change under a running process); an injected reader is never cached.
 */
export function isRunningOnGcp(
  reader: ProductNameReader | undefined = readerForTesting,
  platform: NodeJS.Platform = process.platform,
): boolean {
  if (reader) return isGcpProductName(reader());
  if (cachedOnGcp === undefined) cachedOnGcp = isGcpProductName(defaultReader(platform)?.());
  return cachedOnGcp;
}
