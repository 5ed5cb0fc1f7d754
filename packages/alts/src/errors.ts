import { status } from '@grpc/grpc-js';

/**
 * Stable codes of {@link AltsError}, each with the gRPC status a caller sees and what to do.
 * Each maps to the gRPC status a grpc-go or grpc-java user would see for the same failure
 * (docs/protocol.md §3.7: a failed handshake or a broken record stream is a connection failure,
 * UNAVAILABLE; a bad option is the caller's mistake, INVALID_ARGUMENT). A failed connection is
 * retried by grpc-js with backoff; the codes say why, in the message and in `onHandshakeFailure`.
 */
export const ALTS_ERROR_STATUS = {
  /**
   * INVALID_ARGUMENT. An option or argument given to the library is invalid; thrown when the
   * credentials or server are created, never later. Fix the option the message names.
   */
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  /**
   * UNAVAILABLE. ALTS refused to run: not on Google Cloud and no handshaker address was
   * configured. Off Google Cloud, name a handshaker (such as `alts-emulator`) with
   * `handshakerServiceAddress` or `ALTS_HANDSHAKER_SERVICE_ADDRESS`.
   */
  UNTRUSTED_PLATFORM: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The handshaker service could not be reached or its stream broke. Start it at
   * the address the message names, or correct the address; on Google Cloud, check that the VM
   * reaches its metadata server.
   */
  HANDSHAKER_UNAVAILABLE: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The handshaker service refused the handshake; its reason is in the message. Most
   * often the peer's service account is not in `targetServiceAccounts`, an account is disabled, or
   * two emulators do not share a trust root.
   */
  HANDSHAKER_ERROR: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The handshaker service sent a response that breaks the protocol (bad field
   * values). Point the address at the real service or an `alts-emulator`; if it is one, report it.
   */
  BAD_HANDSHAKER_RESPONSE: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The local and peer RPC protocol versions have no common version (both are in the
   * message). Upgrade the older side.
   */
  RPC_VERSION_MISMATCH: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The handshake did not finish before its deadline: the peer or the handshaker did
   * not answer. Check that the peer is an ALTS server and that both handshakers run;
   * `handshakeTimeoutMs` only needs raising on very slow links.
   */
  HANDSHAKE_TIMEOUT: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The peer closed the connection during the handshake: usually its handshaker
   * refused us (its log says why: our account is not one it accepts, or is disabled), or it does
   * not speak ALTS.
   */
  PEER_CLOSED: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The handshake was cancelled by this side (channel closed, server shut down).
   * Nothing to fix unless the close was unexpected.
   */
  CANCELLED: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. A record frame is malformed (bad length or type): the peer does not speak ALTS
   * records, or something on the path changed the bytes. Check that both ends use ALTS.
   */
  BAD_FRAME: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. A record failed authentication (tampered, replayed, reordered or reflected). The
   * connection is closed and grpc-js reconnects; repeated, it means someone alters the traffic.
   */
  AUTH_FAILED: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The frame counter of a direction is exhausted; the connection can carry no more
   * records. grpc-js opens a new connection; nothing to do.
   */
  COUNTER_OVERFLOW: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The connection ended inside a record (the network failed or the peer stopped).
   * grpc-js reconnects; retry the call if it is safe to.
   */
  TRUNCATED: status.UNAVAILABLE,
  /**
   * UNAVAILABLE. The server refused a connection before authenticating it: too many connections
   * handshaking (in total or from its address), a first handshake message past the size bound, or
   * a peer whose first bytes show it speaks another protocol (HTTP/2 without ALTS, TLS, HTTP/1).
   * Under real load raise `maxUnauthenticatedConnections` or `…PerAddress`; otherwise the bound is
   * doing its job against a flood; for another protocol, give the peer ALTS credentials.
   */
  CONNECTION_REFUSED: status.UNAVAILABLE,
  /**
   * INTERNAL. A bug in this library: an error nobody expected, with the original as `cause`.
   * Report it with the message and the cause.
   */
  INTERNAL: status.INTERNAL,
} as const;

/** The stable code of an {@link AltsError}: one of the keys of {@link ALTS_ERROR_STATUS}. */
export type AltsErrorCode = keyof typeof ALTS_ERROR_STATUS;

/**
 * Longest piece of outside text (handshaker status details, a peer's identity) an error message
 * carries: enough for any real reason or service account, too little to flood a log line.
 */
const MAX_QUOTED_TEXT_CHARS = 256;

/**
 * What never reaches a line raw: C0, DEL and C1 controls (Cc), the line and paragraph separators
 * some viewers break lines at (Zl, Zp), lone surrogates (Cs; written as UTF-8 they become U+FFFD,
 * hiding what was sent), every format character (Cf: the bidi controls that reorder what the
 * reader sees, CVE-2021-42574, and the invisible ones, zero-width space and joiners, U+2060,
 * U+FEFF, U+00AD) and the other characters Unicode says to render as nothing
 * (Default_Ignorable_Code_Point: Hangul fillers, variation selectors), which would make a padded
 * patient ID look like a real one (docs/hardening.md 47).
 */
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\p{Cs}\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

/** JSON's `\uXXXX`, one per UTF-16 unit, as JSON writes a character beyond U+FFFF (a surrogate pair). */
const escapeChar = (c: string) => {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
};

/**
 * Renders text we did not write (handshaker details that may echo an unauthenticated peer, a
 * peer's identity, request fields) safe for one log line (docs/hardening.md 33): every unsafe
 * character becomes JSON's `\uXXXX`, and the result is at most `max` characters plus an ellipsis,
 * never cut inside an escape or a surrogate pair. Backslashes stay as they are, so escaping twice
 * changes nothing; the price is that a literal `\u000a` sent by a peer reads like an escape.
 */
export function quoteUntrusted(text: string, max = MAX_QUOTED_TEXT_CHARS): string {
  if (text.length <= max && !UNSAFE.test(text)) return text;
  let out = '';
  for (const c of text) {
    const piece = UNSAFE.test(c) ? escapeChar(c) : c;
    if (out.length + piece.length > max) return `${out}…`;
    out += piece;
  }
  return out;
}

const ALTS_ERROR_MARK = Symbol.for('@grpc-alts/alts.AltsError');

/** The one error type of this library: a stable `code`, the gRPC status it maps to, and a `cause`. */
export class AltsError extends Error {
  /** Always `'AltsError'`. */
  override readonly name = 'AltsError';
  /** What failed; stable across releases, unlike the message. */
  readonly code: AltsErrorCode;
  /** Marks AltsErrors of every copy of this library (see {@link AltsError.is}). */
  readonly [ALTS_ERROR_MARK] = true;

  constructor(code: AltsErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[${code}] ${message}`, options);
    this.code = code;
  }

  /** The gRPC status code a caller sees for this failure. */
  get grpcCode(): status {
    return ALTS_ERROR_STATUS[this.code];
  }

  /** True for an AltsError from any copy of this library (instanceof fails across copies). */
  static is(value: unknown): value is AltsError {
    return typeof value === 'object' && value !== null && ALTS_ERROR_MARK in value;
  }
}
