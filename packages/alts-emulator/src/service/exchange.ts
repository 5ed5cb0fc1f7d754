// One handshake, request by request (docs/protocol.md §3): which request may come in the current
// phase, the state machine started from a validated start request, peer messages reassembled from
// `in_bytes`, the policy (local identity, target identities, IAM) and the result.
import { status } from '@grpc/grpc-js';
import type {
  HandshakerReq,
  HandshakerResult,
  Identity,
  StartClientHandshakeReq,
  StartServerHandshakeReq,
} from '@grpc-alts/handshaker-proto';
import { quote } from '../common/quote.js';
import type { LocalIdentity, TrustAnchor } from '../protocol/certificate.js';
import { HandshakeError, invalid, malformed, PeerAborted } from '../protocol/errors.js';
import { ClientHandshake, type Established, ServerHandshake } from '../protocol/handshake.js';
import { decodeAlert } from '../protocol/messages.js';
import { MessageType, messageName, type RawMessage, takeMessage } from '../protocol/wire.js';
import type { DisabledServiceAccounts } from '../state/iam.js';
import { checkEnabled, checkTarget, pickLocalIdentity } from './policy.js';
import { clientOffer, serverOffer } from './start-request.js';

/** What the handshake of one stream needs to know about this emulator. */
export interface ExchangeConfig {
  readonly anchor: TrustAnchor;
  /** The identities this emulator may speak for. */
  readonly identities: readonly LocalIdentity[];
  /** Default local identity of client_start and server_start. */
  readonly clientServiceAccount: string;
  readonly serverServiceAccount: string;
  /** Reads the disabled service accounts; called on every handshake. */
  readonly disabledServiceAccounts: () => Promise<DisabledServiceAccounts>;
}

/** The answer to one request: a result only on the last. */
export interface Step {
  outFrames: Buffer;
  bytesConsumed: number;
  result?: HandshakerResult;
}

type State =
  | { readonly phase: 'start' }
  | { readonly phase: 'client-awaits-server'; readonly client: ClientHandshake }
  | { readonly phase: 'server-awaits-init'; readonly server: ServerHandshake }
  | { readonly phase: 'server-awaits-finished'; readonly server: ServerHandshake };

/** Takes the next peer message if complete; an Alert from the peer ends the handshake. */
function take(input: Buffer, expected: MessageType): { message: RawMessage; rest: Buffer } | undefined {
  const taken = takeMessage(input);
  if (taken === undefined) return undefined;
  const { type, body } = taken.message;
  if (type === MessageType.ALERT) {
    const alert = decodeAlert(body);
    const code = alert.code > status.OK && alert.code <= status.UNAUTHENTICATED ? alert.code : status.UNKNOWN;
    throw new PeerAborted(code, `the peer's handshaker aborted the handshake: ${quote(alert.details)}`);
  }
  if (type !== expected) throw malformed(`expected ${messageName(expected)}, got ${messageName(type)}`);
  return taken;
}

/** A peer message still incomplete: all of `inBytes` is consumed (kept in the pending bytes). */
function waiting(inBytes: Buffer): Step {
  return { outFrames: Buffer.alloc(0), bytesConsumed: inBytes.length };
}

/** The handshake a HandshakeStream carries: drives one ClientHandshake or ServerHandshake. */
export class Exchange {
  readonly #config: ExchangeConfig;
  #state: State = { phase: 'start' };
  #role: 'client' | 'server' | undefined;
  #local: LocalIdentity | undefined;
  #targets: readonly Identity[] = [];
  /** Bytes of a peer message not complete yet (all of them already reported consumed). */
  #pending = Buffer.alloc(0);

  constructor(config: ExchangeConfig) {
    this.#config = config;
  }

  /** Set by the start request, even one that then fails validation. */
  get role(): 'client' | 'server' | undefined {
    return this.#role;
  }

  /** Set once a held local identity is chosen, even if IAM then refuses it. */
  get local(): LocalIdentity | undefined {
    return this.#local;
  }

  /** Handles one request; throws a HandshakeError (or a bug) that fails the stream. */
  async step(req: HandshakerReq): Promise<Step> {
    const set = [req.clientStart, req.serverStart, req.next].filter((x) => x !== undefined).length;
    if (set === 0) throw invalid('the request is empty: set one of client_start, server_start or next');
    if (set > 1) throw invalid('the request sets more than one of client_start, server_start and next');
    if (req.clientStart !== undefined || req.serverStart !== undefined) {
      if (this.#state.phase !== 'start') {
        throw new HandshakeError(
          status.FAILED_PRECONDITION,
          'the handshake was already started on this stream',
        );
      }
    }
    if (req.clientStart !== undefined) return this.#startClient(req.clientStart);
    if (req.serverStart !== undefined) return this.#startServer(req.serverStart);
    if (this.#state.phase === 'start') {
      throw new HandshakeError(
        status.FAILED_PRECONDITION,
        'next received before client_start or server_start',
      );
    }
    return this.#receive(req.next?.inBytes ?? Buffer.alloc(0));
  }

  async #startClient(start: StartClientHandshakeReq): Promise<Step> {
    this.#role = 'client';
    const offer = clientOffer(start);
    const requested = start.localIdentity === undefined ? [] : [start.localIdentity];
    const local = await this.#chooseLocal(requested, this.#config.clientServiceAccount);
    this.#targets = start.targetIdentities;
    const client = new ClientHandshake(local, this.#config.anchor, offer);
    this.#state = { phase: 'client-awaits-server', client };
    return { outFrames: client.clientInit, bytesConsumed: 0 };
  }

  async #startServer(start: StartServerHandshakeReq): Promise<Step> {
    this.#role = 'server';
    const { offer, localIdentities } = serverOffer(start);
    const local = await this.#chooseLocal(localIdentities, this.#config.serverServiceAccount);
    this.#state = {
      phase: 'server-awaits-init',
      server: new ServerHandshake(local, this.#config.anchor, offer),
    };
    // C-core starts with empty in_bytes, grpc-go and java with the client's first bytes
    // (docs/protocol.md §3.3).
    return this.#receive(start.inBytes);
  }

  async #chooseLocal(requested: readonly Identity[], fallback: string): Promise<LocalIdentity> {
    const local = pickLocalIdentity(this.#config.identities, requested, fallback);
    this.#local = local;
    await checkEnabled(this.#config.disabledServiceAccounts, local.serviceAccount, 'local');
    return local;
  }

  async #receive(inBytes: Buffer): Promise<Step> {
    this.#pending = Buffer.concat([this.#pending, inBytes]);
    const state = this.#state;
    switch (state.phase) {
      case 'client-awaits-server':
        return this.#receiveServerFlight(state.client, inBytes);
      case 'server-awaits-init':
        return this.#receiveClientInit(state.server, inBytes);
      case 'server-awaits-finished':
        return this.#receiveClientFinished(state.server, inBytes);
    }
    throw new HandshakeError(status.FAILED_PRECONDITION, `unexpected request in phase ${state.phase}`);
  }

  async #receiveServerFlight(client: ClientHandshake, inBytes: Buffer): Promise<Step> {
    const init = take(this.#pending, MessageType.SERVER_INIT);
    const finished = init && take(init.rest, MessageType.SERVER_FINISHED);
    if (init === undefined || finished === undefined) return waiting(inBytes);
    const serverServiceAccount = client.verifyServerFlight(init.message, finished.message);
    checkTarget(this.#targets, serverServiceAccount);
    await checkEnabled(this.#config.disabledServiceAccounts, serverServiceAccount, 'peer');
    const { clientFinished, established } = client.finish();
    return this.#completed(clientFinished, inBytes, finished.rest, established);
  }

  #receiveClientInit(server: ServerHandshake, inBytes: Buffer): Step {
    const init = take(this.#pending, MessageType.CLIENT_INIT);
    if (init === undefined) return waiting(inBytes);
    // A client cannot say more before it has our reply, so anything after ClientInit is bogus;
    // rejecting it also keeps the final leftover within the final request's in_bytes.
    if (init.rest.length > 0) throw malformed('unexpected bytes after ClientInit');
    const serverFlight = server.respond(init.message);
    this.#pending = Buffer.alloc(0);
    this.#state = { phase: 'server-awaits-finished', server };
    return { outFrames: serverFlight, bytesConsumed: inBytes.length };
  }

  async #receiveClientFinished(server: ServerHandshake, inBytes: Buffer): Promise<Step> {
    const finished = take(this.#pending, MessageType.CLIENT_FINISHED);
    if (finished === undefined) return waiting(inBytes);
    const established = server.verifyClientFinished(finished.message);
    await checkEnabled(this.#config.disabledServiceAccounts, established.peerServiceAccount, 'peer');
    return this.#completed(Buffer.alloc(0), inBytes, finished.rest, established);
  }

  /** The final step: bytes after the peer's last message stay unconsumed (they are records). */
  #completed(outFrames: Buffer, inBytes: Buffer, leftover: Buffer, established: Established): Step {
    const local = this.#local;
    if (local === undefined) throw new Error('completed without a local identity');
    return {
      outFrames,
      bytesConsumed: inBytes.length - leftover.length,
      result: {
        applicationProtocol: established.applicationProtocol,
        recordProtocol: established.recordProtocol,
        keyData: established.keyData,
        peerIdentity: { serviceAccount: established.peerServiceAccount, attributes: {} },
        localIdentity: { serviceAccount: local.serviceAccount, attributes: {} },
        keepChannelOpen: false,
        peerRpcVersions: established.peerRpcVersions,
        maxFrameSize: established.peerMaxFrameSize,
        transportProtocol: undefined,
      },
    };
  }
}
