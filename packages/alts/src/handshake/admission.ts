import { isIPv6 } from 'node:net';

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

/** An admitted connection: its release, and how to close it when a newcomer needs its place. */
interface Admitted {
  readonly source: string;
  readonly evict: (reason: string) => void;
  released: boolean;
}

/**
 * Counts the connections a server is handshaking, in total and per source, within both bounds
 * (docs/hardening.md 32, 41). A connection counts from accept until its handshake ends either way.
 * When the total is full the bound fails over to the attacker, not the newcomer: a connection
 * from a source holding fewer than the busiest source evicts that source's oldest connection, so
 * however many addresses fill the bound, a client from a new address still gets in.
 */
export class UnauthenticatedConnections {
  #total = 0;
  /** Each source's connections, oldest first (a Set keeps insertion order). */
  readonly #bySource = new Map<string, Set<Admitted>>();

  constructor(
    readonly maxTotal: number,
    readonly maxPerSource: number,
  ) {}

  get total(): number {
    return this.#total;
  }

  /**
   * A release function for an admitted connection, or why it is refused. `evict` closes this
   * connection if a newcomer later takes its place; its release is then a no-op.
   */
  admit(
    address: string | undefined,
    evict: (reason: string) => void,
  ): { release: () => void } | { refused: string } {
    const source = sourceKey(address);
    const fromSource = this.#bySource.get(source)?.size ?? 0;
    if (fromSource >= this.maxPerSource) {
      return {
        refused:
          `${fromSource} connections from ${source} are already handshaking ` +
          `(limit ${this.maxPerSource})`,
      };
    }
    if (this.#total >= this.maxTotal && !this.#evictForNewcomer(source, fromSource)) {
      return { refused: `${this.#total} connections are already handshaking (limit ${this.maxTotal})` };
    }
    const entry: Admitted = { source, evict, released: false };
    let connections = this.#bySource.get(source);
    if (connections === undefined) {
      connections = new Set();
      this.#bySource.set(source, connections);
    }
    connections.add(entry);
    this.#total++;
    return { release: () => this.#release(entry) };
  }

  /**
   * Frees a place for a connection from `source` by closing the oldest connection of the busiest
   * other source, if that source holds at least two more: moving one place never makes the
   * newcomer's source the busier, so attackers cannot evict each other back and forth.
   */
  #evictForNewcomer(source: string, fromSource: number): boolean {
    let busiest: Set<Admitted> | undefined;
    for (const [key, connections] of this.#bySource) {
      if (key !== source && connections.size > (busiest?.size ?? 0)) busiest = connections;
    }
    if (busiest === undefined || busiest.size < fromSource + 2) return false;
    const held = busiest.size;
    const oldest = busiest.values().next().value as Admitted;
    this.#release(oldest);
    oldest.evict(
      `${held} connections from ${oldest.source} were handshaking, the most of any source, at the ` +
        `limit of ${this.maxTotal}: the oldest made room for another source`,
    );
    return true;
  }

  #release(entry: Admitted): void {
    if (entry.released) return;
    entry.released = true;
    this.#total--;
    const connections = this.#bySource.get(entry.source);
    connections?.delete(entry);
    if (connections?.size === 0) this.#bySource.delete(entry.source);
  }
}
