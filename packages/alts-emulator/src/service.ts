// grpc.gcp.HandshakerService/DoHandshake: one Session per stream. It validates the start
// request, reassembles peer messages from `in_bytes`, runs the handshake state machine and
// applies policy (local identity, target identities, IAM). docs/protocol.md §3 and §6.4 give the contract.
import { performance } from 'node:perf_hooks';
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import {
  HandshakeProtocol,
  type HandshakerReq,
  type HandshakerResp,
  type HandshakerResult,
  type HandshakerServiceServer,
  type Identity,
  type RpcProtocolVersions,
  type StartClientHandshakeReq,
  type StartServerHandshakeReq,
} from '@grpc-alts/handshaker-proto';
import { HandshakeError, malformed } from './errors.js';
import { ClientHandshake, type Established, type Offer, ServerHandshake } from './handshake.js';
import type { DisabledServiceAccounts } from './iam.js';
import { sameServiceAccount } from './identity.js';
import {
  decodeAlert,
  encodeAlert,
  type LocalIdentity,
  MAX_PROTOCOL_NAME_BYTES,
  MAX_PROTOCOLS,
  MessageType,
  messageName,
  type RawMessage,
  type TrustAnchor,
  takeMessage,
} from './protocol.js';
import { quote, quoteList } from './quote.js';

/** The one record protocol this emulator speaks (the only one gRPC libraries request, docs/protocol.md §3.1). */
const RECORD_PROTOCOL = 'ALTSRP_GCM_AES128_REKEY';
/** Idle limit of a stream; grpc-go gives the whole server handshake 30 s (docs/protocol.md §3.8). */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/**
 * Longest rendering of a whole failure message in a log line, or of an error's own text in one:
 * the 1 KiB an Alert carries to the peer (protocol.ts), so the log shows at least what it was told.
 */
const MAX_LOGGED_DETAILS_CHARS = 1024;

export interface ServiceConfig {
  readonly anchor: TrustAnchor;
  /** The identities this emulator may speak for. */
  readonly identities: readonly LocalIdentity[];
  /** Default local identity of client_start and server_start. */
  readonly clientServiceAccount: string;
  readonly serverServiceAccount: string;
  /** Reads the disabled service accounts; called on every handshake. */
  readonly disabledServiceAccounts: () => Promise<DisabledServiceAccounts>;
  readonly log: (line: string) => void;
  readonly idleTimeoutMs: number;
}

/** An Alert received from the peer: reported locally, never answered with another alert. */
class PeerAborted extends HandshakeError {}

const OK = { code: status.OK, details: '' };

function invalid(details: string): HandshakeError {
  return new HandshakeError(status.INVALID_ARGUMENT, details);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describeIdentity(identity: Identity): string {
  if (identity.serviceAccount !== undefined) return quote(identity.serviceAccount);
  if (identity.hostname !== undefined) return `hostname ${quote(identity.hostname)}`;
  return '(empty identity)';
}

function checkProtocolList(field: string, values: readonly string[]): void {
  if (values.length === 0) throw invalid(`${field} is empty: at least one is required`);
  if (values.length > MAX_PROTOCOLS) throw invalid(`${field} has more than ${MAX_PROTOCOLS} entries`);
  if (values.some((v) => v.length === 0 || Buffer.byteLength(v, 'utf8') > MAX_PROTOCOL_NAME_BYTES)) {
    throw invalid(`${field} has an empty name or one longer than ${MAX_PROTOCOL_NAME_BYTES} bytes`);
  }
}

/** Checks of a record protocol list; we always select {@link RECORD_PROTOCOL}. */
function checkRecordProtocols(field: string, values: readonly string[]): void {
  checkProtocolList(field, values);
  if (!values.includes(RECORD_PROTOCOL)) {
    throw invalid(
      `${field} ${quoteList(values)} has no supported record protocol: this handshaker supports only ${RECORD_PROTOCOL}`,
    );
  }
}

function checkRpcVersions(field: string, rpcVersions: RpcProtocolVersions | undefined): RpcProtocolVersions {
  // Every gRPC library rejects a peer without them (docs/protocol.md §8), so fail early and clearly.
  if (rpcVersions === undefined) throw invalid(`${field} is required`);
  return rpcVersions;
}

interface Step {
  outFrames: Buffer;
  bytesConsumed: number;
  result?: HandshakerResult;
}

type Phase = 'start' | 'client-awaits-server' | 'server-awaits-init' | 'server-awaits-finished' | 'closed';

class Session {
  private phase: Phase = 'start';
  private role: 'client' | 'server' | undefined;
  private local: LocalIdentity | undefined;
  private targets: readonly Identity[] = [];
  private client: ClientHandshake | undefined;
  private server: ServerHandshake | undefined;
  /** Bytes of a peer message not complete yet (all of them already reported consumed). */
  private pending = Buffer.alloc(0);
  private queue: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = performance.now();

  constructor(
    private readonly config: ServiceConfig,
    private readonly id: number,
    private readonly call: ServerDuplexStream<HandshakerReq, HandshakerResp>,
  ) {
    // Requests are handled one at a time, in order, even though policy checks are async.
    call.on('data', (req: HandshakerReq) => {
      this.queue = this.queue.then(() => this.handle(req));
    });
    call.on('end', () => {
      this.queue = this.queue.then(() => {
        if (!this.isClosed()) {
          this.fail(
            new HandshakeError(
              status.CANCELLED,
              'the client closed the stream before the handshake finished',
            ),
            false,
          );
        }
      });
    });
    call.on('cancelled', () => {
      if (this.isClosed()) return;
      this.close();
      this.logOutcome('abandoned (stream cancelled by the client)');
    });
    this.armIdleTimer();
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.isClosed()) return;
      this.fail(
        new HandshakeError(
          status.DEADLINE_EXCEEDED,
          `no request for ${this.config.idleTimeoutMs} ms; handshake abandoned`,
        ),
        false,
      );
    }, this.config.idleTimeoutMs);
    this.idleTimer.unref();
  }

  // A method, not a field test: the phase changes across awaits (cancel, idle timeout), which
  // TypeScript's narrowing does not see.
  private isClosed(): boolean {
    return this.phase === 'closed';
  }

  private close(): void {
    this.phase = 'closed';
    clearTimeout(this.idleTimer);
  }

  private async handle(req: HandshakerReq): Promise<void> {
    if (this.isClosed()) return;
    this.armIdleTimer();
    let step: Step;
    try {
      step = await this.step(req);
    } catch (error) {
      if (!this.isClosed()) this.fail(error, true);
      return;
    }
    if (this.isClosed()) return;
    this.call.write({
      outFrames: step.outFrames,
      bytesConsumed: step.bytesConsumed,
      result: step.result,
      status: OK,
    });
    if (step.result !== undefined) {
      this.close();
      this.logOutcome(
        `ok peer=${quote(step.result.peerIdentity?.serviceAccount ?? '')} record=${step.result.recordProtocol}`,
      );
      // End with OK at once: C-core waits for the status before finishing its handshake (docs/protocol.md §3.9).
      this.call.end();
    }
  }

  /**
   * Ends the RPC with the failure's status. `answering` is true when a request is waiting: it
   * gets a response carrying the status first (docs/protocol.md §6.4); an idle timeout or a half-close has no
   * request to answer, and an unasked-for response would break clients (java: "Received an
   * unexpected response").
   */
  private fail(error: unknown, answering: boolean): void {
    const failure =
      error instanceof HandshakeError
        ? error
        : new HandshakeError(
            status.INTERNAL,
            `internal error: ${quote(errorText(error), MAX_LOGGED_DETAILS_CHARS)}`,
          );
    this.close();
    if (answering) {
      const tellPeer = this.role !== undefined && !(failure instanceof PeerAborted);
      this.call.write({
        // Carries the reason to the peer's handshaker if the local library forwards it (the proto
        // asks libraries to send out_frames even with a non-OK status).
        outFrames: tellPeer ? encodeAlert({ code: failure.code, details: failure.message }) : Buffer.alloc(0),
        bytesConsumed: 0,
        result: undefined,
        status: { code: failure.code, details: failure.message },
      });
    }
    this.logOutcome(
      `failed code=${status[failure.code]} details=${quote(failure.message, MAX_LOGGED_DETAILS_CHARS)}`,
    );
    this.call.emit(
      'error',
      Object.assign(new Error(failure.message), { code: failure.code, details: failure.message }),
    );
  }

  private logOutcome(outcome: string): void {
    const ms = (performance.now() - this.startedAt).toFixed(1);
    const local = this.local === undefined ? '' : ` local=${quote(this.local.serviceAccount)}`;
    this.config.log(`handshake #${this.id} role=${this.role ?? 'none'}${local} ${outcome} duration=${ms}ms`);
  }

  private async step(req: HandshakerReq): Promise<Step> {
    const set = [req.clientStart, req.serverStart, req.next].filter((x) => x !== undefined).length;
    if (set === 0) throw invalid('the request is empty: set one of client_start, server_start or next');
    if (set > 1) throw invalid('the request sets more than one of client_start, server_start and next');
    if (req.clientStart !== undefined || req.serverStart !== undefined) {
      if (this.phase !== 'start') {
        throw new HandshakeError(
          status.FAILED_PRECONDITION,
          'the handshake was already started on this stream',
        );
      }
    }
    if (req.clientStart !== undefined) return this.startClient(req.clientStart);
    if (req.serverStart !== undefined) return this.startServer(req.serverStart);
    if (this.phase === 'start') {
      throw new HandshakeError(
        status.FAILED_PRECONDITION,
        'next received before client_start or server_start',
      );
    }
    return this.receive(req.next?.inBytes ?? Buffer.alloc(0));
  }

  private async startClient(start: StartClientHandshakeReq): Promise<Step> {
    this.role = 'client';
    if (start.handshakeSecurityProtocol !== HandshakeProtocol.ALTS) {
      throw invalid(
        `client_start.handshake_security_protocol must be ALTS (${HandshakeProtocol.ALTS}), got ${start.handshakeSecurityProtocol}`,
      );
    }
    checkProtocolList('client_start.application_protocols', start.applicationProtocols);
    checkRecordProtocols('client_start.record_protocols', start.recordProtocols);
    const offer: Offer = {
      applicationProtocols: start.applicationProtocols,
      recordProtocols: [RECORD_PROTOCOL],
      rpcVersions: checkRpcVersions('client_start.rpc_versions', start.rpcVersions),
      maxFrameSize: start.maxFrameSize,
    };
    const local = this.pickLocalIdentity(
      start.localIdentity === undefined ? [] : [start.localIdentity],
      this.config.clientServiceAccount,
    );
    await this.checkEnabled(local.serviceAccount, 'local');
    this.targets = start.targetIdentities;
    this.client = new ClientHandshake(local, this.config.anchor, offer);
    this.phase = 'client-awaits-server';
    return { outFrames: this.client.clientInit, bytesConsumed: 0 };
  }

  private async startServer(start: StartServerHandshakeReq): Promise<Step> {
    this.role = 'server';
    checkProtocolList('server_start.application_protocols', start.applicationProtocols);
    const params = start.handshakeParameters[HandshakeProtocol.ALTS];
    if (params === undefined) {
      throw invalid(
        `server_start.handshake_parameters has no entry for ALTS (key ${HandshakeProtocol.ALTS})`,
      );
    }
    checkRecordProtocols('server_start.handshake_parameters[2].record_protocols', params.recordProtocols);
    const offer: Offer = {
      applicationProtocols: start.applicationProtocols,
      recordProtocols: [RECORD_PROTOCOL],
      rpcVersions: checkRpcVersions('server_start.rpc_versions', start.rpcVersions),
      maxFrameSize: start.maxFrameSize,
    };
    const local = this.pickLocalIdentity(params.localIdentities, this.config.serverServiceAccount);
    await this.checkEnabled(local.serviceAccount, 'local');
    this.server = new ServerHandshake(local, this.config.anchor, offer);
    this.phase = 'server-awaits-init';
    // C-core starts with empty in_bytes, grpc-go and java with the client's first bytes (docs/protocol.md §3.3).
    return this.receive(start.inBytes);
  }

  /** Honours a requested local identity only if this emulator holds its key (as on a GCE VM). */
  private pickLocalIdentity(requested: readonly Identity[], fallback: string): LocalIdentity {
    const held = (sa: string | undefined) =>
      sa === undefined
        ? undefined
        : this.config.identities.find((identity) => sameServiceAccount(identity.serviceAccount, sa));
    const chosen =
      requested.length === 0
        ? held(fallback)
        : requested
            .map((identity) => held(identity.serviceAccount))
            .find((identity) => identity !== undefined);
    if (chosen === undefined) {
      throw new HandshakeError(
        status.PERMISSION_DENIED,
        `this handshaker cannot speak for local identity ${requested.map(describeIdentity).join(' or ')}; ` +
          `it holds ${quoteList(this.config.identities.map((identity) => identity.serviceAccount))}`,
      );
    }
    this.local = chosen;
    return chosen;
  }

  private async checkEnabled(serviceAccount: string, whose: 'local' | 'peer'): Promise<void> {
    let disabled: DisabledServiceAccounts;
    try {
      disabled = await this.config.disabledServiceAccounts();
    } catch (cause) {
      // Fail closed: an unreadable IAM state must not let a disabled account through.
      throw new HandshakeError(
        status.INTERNAL,
        `cannot read the IAM state: ${quote(errorText(cause), MAX_LOGGED_DETAILS_CHARS)}`,
        { cause },
      );
    }
    if (disabled.has(serviceAccount)) {
      const who = whose === 'local' ? 'the local' : "the peer's";
      throw new HandshakeError(
        status.PERMISSION_DENIED,
        `IAM: ${who} service account ${quote(serviceAccount)} is disabled`,
      );
    }
  }

  private checkTarget(serverServiceAccount: string): void {
    if (this.targets.length === 0) return;
    const named = (t: Identity) =>
      t.serviceAccount !== undefined && sameServiceAccount(t.serviceAccount, serverServiceAccount);
    if (this.targets.some(named)) return;
    throw new HandshakeError(
      status.PERMISSION_DENIED,
      `the server's identity ${quote(serverServiceAccount)} is not among the target identities ` +
        `[${this.targets.map(describeIdentity).join(', ')}]`,
    );
  }

  /** Takes the next peer message if complete; an Alert from the peer ends the handshake. */
  private take(input: Buffer, expected: MessageType): { message: RawMessage; rest: Buffer } | undefined {
    const taken = takeMessage(input);
    if (taken === undefined) return undefined;
    const { type, body } = taken.message;
    if (type === MessageType.ALERT) {
      const alert = decodeAlert(body);
      const code =
        alert.code > status.OK && alert.code <= status.UNAUTHENTICATED ? alert.code : status.UNKNOWN;
      throw new PeerAborted(code, `the peer's handshaker aborted the handshake: ${quote(alert.details)}`);
    }
    if (type !== expected) throw malformed(`expected ${messageName(expected)}, got ${messageName(type)}`);
    return taken;
  }

  private async receive(inBytes: Buffer): Promise<Step> {
    this.pending = Buffer.concat([this.pending, inBytes]);
    const waiting: Step = { outFrames: Buffer.alloc(0), bytesConsumed: inBytes.length };
    if (this.phase === 'client-awaits-server' && this.client !== undefined) {
      const init = this.take(this.pending, MessageType.SERVER_INIT);
      const finished = init && this.take(init.rest, MessageType.SERVER_FINISHED);
      if (init === undefined || finished === undefined) return waiting;
      const serverServiceAccount = this.client.verifyServerFlight(init.message, finished.message);
      this.checkTarget(serverServiceAccount);
      await this.checkEnabled(serverServiceAccount, 'peer');
      const { clientFinished, established } = this.client.finish();
      return this.completed(clientFinished, inBytes, finished.rest, established);
    }
    if (this.phase === 'server-awaits-init' && this.server !== undefined) {
      const init = this.take(this.pending, MessageType.CLIENT_INIT);
      if (init === undefined) return waiting;
      // A client cannot say more before it has our reply, so anything after ClientInit is bogus;
      // rejecting it also keeps the final leftover within the final request's in_bytes.
      if (init.rest.length > 0) throw malformed('unexpected bytes after ClientInit');
      const serverFlight = this.server.respond(init.message);
      this.pending = Buffer.alloc(0);
      this.phase = 'server-awaits-finished';
      return { outFrames: serverFlight, bytesConsumed: inBytes.length };
    }
    if (this.phase === 'server-awaits-finished' && this.server !== undefined) {
      const finished = this.take(this.pending, MessageType.CLIENT_FINISHED);
      if (finished === undefined) return waiting;
      const established = this.server.verifyClientFinished(finished.message);
      await this.checkEnabled(established.peerServiceAccount, 'peer');
      return this.completed(Buffer.alloc(0), inBytes, finished.rest, established);
    }
    throw new HandshakeError(status.FAILED_PRECONDITION, `unexpected request in phase ${this.phase}`);
  }

  /** The final step: bytes after the peer's last message stay unconsumed (they are records). */
  private completed(outFrames: Buffer, inBytes: Buffer, leftover: Buffer, established: Established): Step {
    const local = this.local;
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

/** The DoHandshake implementation; streams are independent of each other. */
export function createHandshakerService(config: ServiceConfig): HandshakerServiceServer {
  let nextId = 1;
  return {
    doHandshake(call) {
      new Session(config, nextId++, call);
    },
  };
}
