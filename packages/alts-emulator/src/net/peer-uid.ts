// Which local user owns the other end of a TCP connection. Linux lists every TCP socket of the
// network namespace in /proc/net/tcp and /proc/net/tcp6, each with the uid that created it (as
// seen from the reader's user namespace: a rootless `run` sandbox's sockets show the real uid of
// its user). A Unix socket would give SO_PEERCRED, but unmodified gRPC programs dial TCP.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { endianness } from 'node:os';

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'] as const;
/** Columns of a /proc/net/tcp line (after `sl`): local and remote "ADDR:PORT" in hex, then uid. */
const LOCAL_COLUMN = 1;
const REMOTE_COLUMN = 2;
const UID_COLUMN = 7;

export interface TcpSocketEntry {
  /** Endpoints as {@link endpoint} spells them. */
  local: string;
  remote: string;
  uid: number;
}

/**
 * One spelling per address and port: IPv4 dotted (IPv4-mapped IPv6 too, as a dual-stack socket
 * and /proc/net/tcp6 show an IPv4 peer), IPv6 in the URL standard's compressed form.
 */
export function endpoint(address: string, port: number): string {
  if (!address.includes(':')) return `${address}|${port}`;
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]`).hostname.slice(1, -1);
  } catch {
    canonical = address.toLowerCase();
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return `${canonical}|${port}`;
  const [high, low] = [Number.parseInt(mapped[1] ?? '', 16), Number.parseInt(mapped[2] ?? '', 16)];
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}|${port}`;
}

/**
 * The kernel prints an address as 32-bit words in host byte order (%08X of each): IPv4 one word,
 * IPv6 four.
 */
function hexAddress(hex: string, littleEndian: boolean): string | undefined {
  if (!/^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32})$/.test(hex)) return undefined;
  const bytes = Buffer.alloc(hex.length / 2);
  for (let i = 0; i < hex.length / 8; i++) {
    const word = Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16);
    if (littleEndian) bytes.writeUInt32LE(word, i * 4);
    else bytes.writeUInt32BE(word, i * 4);
  }
  if (bytes.length === 4) return [...bytes].join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

function hexEndpoint(column: string | undefined, littleEndian: boolean): string | undefined {
  const [hex, port, ...rest] = (column ?? '').split(':');
  if (hex === undefined || port === undefined || rest.length > 0 || !/^[0-9A-Fa-f]{4}$/.test(port))
    return undefined;
  const address = hexAddress(hex, littleEndian);
  return address === undefined ? undefined : endpoint(address, Number.parseInt(port, 16));
}

/** One line of /proc/net/tcp or tcp6; undefined for the header or anything else. */
export function parseTcpLine(line: string, littleEndian = endianness() === 'LE'): TcpSocketEntry | undefined {
  const columns = line.trim().split(/\s+/);
  const local = hexEndpoint(columns[LOCAL_COLUMN], littleEndian);
  const remote = hexEndpoint(columns[REMOTE_COLUMN], littleEndian);
  const uid = columns[UID_COLUMN] ?? '';
  if (local === undefined || remote === undefined || !/^\d{1,10}$/.test(uid)) return undefined;
  return { local, remote, uid: Number(uid) };
}

/** Both tables, keyed "local>remote"; a missing table (no IPv6) is empty. */
async function readTables(): Promise<Map<string, number>> {
  const texts = await Promise.all(TABLES.map((path) => readFile(path, 'latin1').catch(() => '')));
  const owners = new Map<string, number>();
  for (const line of texts.join('\n').split('\n')) {
    const entry = parseTcpLine(line);
    if (entry) owners.set(`${entry.local}>${entry.remote}`, entry.uid);
  }
  return owners;
}

/**
 * Calls `read` for every caller, but at most one runs at a time: a caller that comes while one runs
 * gets the next one, started after it (the connection it asks about may be newer than the running
 * read), shared with everyone else who came meanwhile. A flood of connections costs at most two
 * reads in flight, not one each.
 */
function coalesced<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const start = (): Promise<T> => {
    running = read().finally(() => {
      running = undefined;
    });
    return running;
  };
  return () => {
    if (running === undefined) return start();
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return start();
      });
    return next;
  };
}

const readOwners = coalesced(readTables);

/**
 * The uid owning the other end of `socket` (accepted by us), or undefined when no local socket is
 * that end: the peer is on another host or network namespace, or has gone.
 */
export async function peerUid(socket: Socket): Promise<number | undefined> {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (!remoteAddress || !remotePort || !localAddress || !localPort) return undefined;
  const key = `${endpoint(remoteAddress, remotePort)}>${endpoint(localAddress, localPort)}`;
  return (await readOwners()).get(key);
}

/**
 * Whether {@link peerUid} works here: it finds our own uid on a loopback connection to ourselves.
 * Where /proc/net/tcp is missing or shows no owners (some sandboxed kernels), it would refuse
 * everyone.
 */
export async function peerUidWorks(): Promise<boolean> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = createConnection({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
  client.on('error', () => undefined);
  try {
    const [socket] = (await Promise.race([accepted, once(client, 'error').then(() => [undefined])])) as [
      Socket | undefined,
    ];
    if (socket === undefined) return false;
    socket.on('error', () => undefined);
    const uid = await peerUid(socket);
    socket.destroy();
    return uid === process.getuid?.();
  } finally {
    client.destroy();
    server.close();
  }
}
