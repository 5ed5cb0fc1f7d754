import { DEFAULT_MAX_FRAME_SIZE } from '../constants.js';
import { AltsError } from '../errors.js';
import {
  checkPlatform,
  checkTimeout,
  type ResolvedHandshaker,
  resolveHandshakerAddress,
} from '../handshake/config.js';
import { checkFrameSize } from '../record/frame.js';
import { assertGrpcJsCompatible } from './compat.js';

/** Options both sides share. */
export interface AltsCommonOptions {
  /**
   * The ALTS handshaker service, `host:port` (or a gRPC target with a port, or `unix:/path`; an
   * address without a port throws INVALID_ARGUMENT rather than meaning port 443). Default: `ALTS_HANDSHAKER_SERVICE_ADDRESS`, else
   * `GCE_METADATA_HOST` (host part, port 8080), else `metadata.google.internal.:8080`. Naming an
   * address (here or in either variable) is also the opt-in to run ALTS off Google Cloud.
   */
  handshakerServiceAddress?: string;
  /** Handshake deadline in ms, queueing included (client default 20 000, server 30 000; at most 120 000). */
  handshakeTimeoutMs?: number;
  /** The max frame size we advertise, in bytes (default 131 072 as grpc-java; 16 384 to 1 048 576). */
  maxFrameSize?: number;
}

export interface ResolvedCommon {
  handshaker: ResolvedHandshaker;
  timeoutMs: number;
  maxFrameSize: number;
}

/** Validates options up front: bad input fails at construction, not at the first connection. */
export function resolveCommon(options: AltsCommonOptions, defaultTimeoutMs: number): ResolvedCommon {
  assertGrpcJsCompatible();
  if (typeof options !== 'object' || options === null) {
    throw new AltsError('INVALID_ARGUMENT', 'ALTS options must be an object');
  }
  const handshaker = resolveHandshakerAddress(options.handshakerServiceAddress);
  checkPlatform(handshaker);
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  checkFrameSize('maxFrameSize', maxFrameSize);
  return {
    handshaker,
    timeoutMs: checkTimeout('handshakeTimeoutMs', options.handshakeTimeoutMs, defaultTimeoutMs),
    maxFrameSize,
  };
}
