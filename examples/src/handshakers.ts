// Off Google Cloud, ALTS needs a handshaker service. These examples start alts-emulators in
// process, one per "VM" (service account), sharing one trust root, as these commands would in a
// terminal:
//   npx --package @grpc-alts/alts-emulator alts-emulator --listen 127.0.0.1:0 --service-account <sa>
// On Google Cloud, give no handshaker address: the library uses the metadata server's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { type RunningEmulator, startEmulator } from '@grpc-alts/alts-emulator';

/** The server's service account in every example. */
export const SERVER_ACCOUNT = 'backend@example-project.iam.gserviceaccount.com';
/** The client's service account in every example. */
export const CLIENT_ACCOUNT = 'frontend@example-project.iam.gserviceaccount.com';

/** Running handshakers: the server's, and one per client account. */
export interface Handshakers {
  /** The server's handshaker address (`handshakerServiceAddress` of the server). */
  server: string;
  /** The handshaker address of a client running as `account`. */
  client(account?: string): string;
  /** Stops every emulator and removes their state directory. */
  stop(): Promise<void>;
}

/** Starts a handshaker for the server and one for each client account. */
export async function startHandshakers(
  clientAccounts: readonly string[] = [CLIENT_ACCOUNT],
): Promise<Handshakers> {
  // The trust root lives in the state directory: every emulator started on it trusts the others.
  const stateDir = await mkdtemp(join(tmpdir(), 'alts-example-'));
  const start = (serviceAccount: string) => startEmulator({ serviceAccount, stateDir });
  const server = await start(SERVER_ACCOUNT);
  const clients = new Map<string, RunningEmulator>();
  for (const account of clientAccounts) clients.set(account, await start(account));
  return {
    server: server.address,
    client(account = CLIENT_ACCOUNT) {
      const emulator = clients.get(account);
      if (!emulator) throw new Error(`no handshaker was started for ${account}`);
      return emulator.address;
    },
    async stop() {
      await Promise.all([server, ...clients.values()].map((emulator) => emulator.stop()));
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Awaits a unary call made in grpc-js's callback style: `await unary((done) => client.m(req, done))`. */
export function unary<Reply>(
  start: (done: (error: ServiceError | null, reply?: Reply) => void) => void,
): Promise<Reply> {
  return new Promise((resolve, reject) =>
    start((error, reply) => (error ? reject(error) : resolve(reply as Reply))),
  );
}
