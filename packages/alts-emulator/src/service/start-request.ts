// Validation of the start requests (client_start, server_start; docs/protocol.md §3.1, §6.4):
// what the local library asks for becomes the Offer this side brings to the handshake, or the
// request fails with INVALID_ARGUMENT naming the field.
import {
  HandshakeProtocol,
  type Identity,
  type RpcProtocolVersions,
  type StartClientHandshakeReq,
  type StartServerHandshakeReq,
} from '@grpc-alts/handshaker-proto';
import { quoteList } from '../common/quote.js';
import { invalid } from '../protocol/errors.js';
import type { Offer } from '../protocol/handshake.js';
import { MAX_PROTOCOL_NAME_BYTES, MAX_PROTOCOLS } from '../protocol/wire.js';

/**
 * The one record protocol this emulator speaks,
 * the only one gRPC libraries request (docs/protocol.md §3.1).
 */
const RECORD_PROTOCOL = 'ALTSRP_GCM_AES128_REKEY';

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
      `${field} ${quoteList(values)} has no supported record protocol: this handshaker supports only ` +
        `${RECORD_PROTOCOL}`,
    );
  }
}

/**
 * The RPC versions, which must be present: every gRPC library rejects a peer without them
 * (docs/protocol.md §8), so fail early and clearly. Whether they are compatible with the peer's
 * is for the libraries to decide.
 */
function requireRpcVersions(
  field: string,
  rpcVersions: RpcProtocolVersions | undefined,
): RpcProtocolVersions {
  if (rpcVersions === undefined) throw invalid(`${field} is required`);
  return rpcVersions;
}

/** The Offer of a start request whose protocol lists are already checked. */
function offerOf(
  request: 'client_start' | 'server_start',
  start: StartClientHandshakeReq | StartServerHandshakeReq,
): Offer {
  return {
    applicationProtocols: start.applicationProtocols,
    recordProtocols: [RECORD_PROTOCOL],
    rpcVersions: requireRpcVersions(`${request}.rpc_versions`, start.rpcVersions),
    maxFrameSize: start.maxFrameSize,
  };
}

/** Validates client_start; returns what the client offers. */
export function clientOffer(start: StartClientHandshakeReq): Offer {
  if (start.handshakeSecurityProtocol !== HandshakeProtocol.ALTS) {
    throw invalid(
      `client_start.handshake_security_protocol must be ALTS (${HandshakeProtocol.ALTS}), got ` +
        `${start.handshakeSecurityProtocol}`,
    );
  }
  checkProtocolList('client_start.application_protocols', start.applicationProtocols);
  checkRecordProtocols('client_start.record_protocols', start.recordProtocols);
  return offerOf('client_start', start);
}

/** Validates server_start; returns what the server accepts and the local identities it asks for. */
export function serverOffer(start: StartServerHandshakeReq): {
  offer: Offer;
  localIdentities: readonly Identity[];
} {
  checkProtocolList('server_start.application_protocols', start.applicationProtocols);
  const params = start.handshakeParameters[HandshakeProtocol.ALTS];
  if (params === undefined) {
    throw invalid(`server_start.handshake_parameters has no entry for ALTS (key ${HandshakeProtocol.ALTS})`);
  }
  checkRecordProtocols('server_start.handshake_parameters[2].record_protocols', params.recordProtocols);
  return { offer: offerOf('server_start', start), localIdentities: params.localIdentities };
}
