import { isIPv6 } from 'node:net';

/**
 * Connections a server handshakes at once, from all peers: 10 × the 100 handshake slots
 * (docs/protocol.md §3.11), so a burst of legitimate connects queues instead of being refused,
 * while an unauthenticated flood costs at most this many sockets and read buffers.
 */
export const DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS = 1_000;
/** One source address may hold at most half of them, so other peers always find room. */
export const DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS = 500;
/** Upper bound of both options: the process's file descriptors run out long before. */
export const MAX_UNAUTHENTICATED_CONNECTIONS_CEILING = 100_000;
/** IPv6 peers are grouped by /64, the smallest block a network hands out (RFC 6177). */
const IPV6_GROUPS_COUNTED = 4;

/**
 * The key a source address is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64
 * prefix, because one IPv6 host can use every address of its /64.
 */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, IPV6_GROUPS_COUNTED)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Counts the connections a server is handshaking, in total and per source, and refuses new ones
 * past either bound (docs/hardening.md 32). A connection counts from accept until its handshake
 * ends either way.
 */
export class UnauthenticatedConnections {
  #total = 0;
  readonly #bySource = new Map<string, number>();

  constructor(
    readonly maxTotal: number,
    readonly maxPerSource: number,
  ) {}

  get total(): number {
    return this.#total;
  }

  /** A release function for an admitted connection, or why it is refused. */
  admit(address: string | undefined): { release: () => void } | { refused: string } {
    const key = sourceKey(address);
    const fromSource = this.#bySource.get(key) ?? 0;
    if (this.#total >= this.maxTotal) {
      return { refused: `${this.#total} connections are already handshaking (limit ${this.maxTotal})` };
    }
    if (fromSource >= this.maxPerSource) {
      return {
        refused: `${fromSource} connections from ${key} are already handshaking (limit ${this.maxPerSource})`,
      };
    }
    this.#total++;
    this.#bySource.set(key, fromSource + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const left = (this.#bySource.get(key) ?? 1) - 1;
        if (left === 0) this.#bySource.delete(key);
        else this.#bySource.set(key, left);
      },
    };
  }
}
