// The handshaker contract must match grpc/grpc-proto field for field (docs/protocol.md §2): a wrong number
// or type would still compile and only fail against the real service on Google Cloud.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import * as proto from './index.js';

/** The encode/decode surface every generated message codec has. */
export interface MessageFnsLike {
  encode(message: unknown): { finish(): Uint8Array };
  fromPartial(object: unknown): unknown;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * docs/protocol.md §2.2–§2.4, transcribed: message → field → "number type" (oneof members carry
 * "oneof <name>").
 */
const EXPECTED_MESSAGES: Record<string, Record<string, string>> = {
  RpcProtocolVersions: {
    max_rpc_version: '1 RpcProtocolVersions.Version',
    min_rpc_version: '2 RpcProtocolVersions.Version',
  },
  'RpcProtocolVersions.Version': { major: '1 uint32', minor: '2 uint32' },
  TransportProtocolPreferences: { transport_protocol: '1 repeated string' },
  NegotiatedTransportProtocol: { transport_protocol: '1 string' },
  Endpoint: { ip_address: '1 string', port: '2 int32', protocol: '3 NetworkProtocol' },
  Identity: {
    service_account: '1 string oneof identity_oneof',
    hostname: '2 string oneof identity_oneof',
    attributes: '3 map<string,string>',
  },
  StartClientHandshakeReq: {
    handshake_security_protocol: '1 HandshakeProtocol',
    application_protocols: '2 repeated string',
    record_protocols: '3 repeated string',
    target_identities: '4 repeated Identity',
    local_identity: '5 Identity',
    local_endpoint: '6 Endpoint',
    remote_endpoint: '7 Endpoint',
    target_name: '8 string',
    rpc_versions: '9 RpcProtocolVersions',
    max_frame_size: '10 uint32',
    access_token: '11 string',
    transport_protocol_preferences: '12 TransportProtocolPreferences',
  },
  ServerHandshakeParameters: {
    record_protocols: '1 repeated string',
    local_identities: '2 repeated Identity',
    token: '3 optional string',
  },
  StartServerHandshakeReq: {
    application_protocols: '1 repeated string',
    handshake_parameters: '2 map<int32,ServerHandshakeParameters>',
    in_bytes: '3 bytes',
    local_endpoint: '4 Endpoint',
    remote_endpoint: '5 Endpoint',
    rpc_versions: '6 RpcProtocolVersions',
    max_frame_size: '7 uint32',
    transport_protocol_preferences: '8 TransportProtocolPreferences',
  },
  NextHandshakeMessageReq: { in_bytes: '1 bytes', network_latency_ms: '2 uint32' },
  HandshakerReq: {
    client_start: '1 StartClientHandshakeReq oneof req_oneof',
    server_start: '2 StartServerHandshakeReq oneof req_oneof',
    next: '3 NextHandshakeMessageReq oneof req_oneof',
  },
  HandshakerResult: {
    application_protocol: '1 string',
    record_protocol: '2 string',
    key_data: '3 bytes',
    peer_identity: '4 Identity',
    local_identity: '5 Identity',
    keep_channel_open: '6 bool',
    peer_rpc_versions: '7 RpcProtocolVersions',
    max_frame_size: '8 uint32',
    transport_protocol: '9 NegotiatedTransportProtocol',
  },
  HandshakerStatus: { code: '1 uint32', details: '2 string' },
  HandshakerResp: {
    out_frames: '1 bytes',
    bytes_consumed: '2 uint32',
    result: '3 HandshakerResult',
    status: '4 HandshakerStatus',
  },
  AltsContext: {
    application_protocol: '1 string',
    record_protocol: '2 string',
    security_level: '3 SecurityLevel',
    peer_service_account: '4 string',
    local_service_account: '5 string',
    peer_rpc_versions: '6 RpcProtocolVersions',
    peer_attributes: '7 map<string,string>',
  },
};

const EXPECTED_ENUMS: Record<string, Record<string, number>> = {
  HandshakeProtocol: { HANDSHAKE_PROTOCOL_UNSPECIFIED: 0, TLS: 1, ALTS: 2 },
  NetworkProtocol: { NETWORK_PROTOCOL_UNSPECIFIED: 0, TCP: 1, UDP: 2 },
  SecurityLevel: { SECURITY_NONE: 0, INTEGRITY_ONLY: 1, INTEGRITY_AND_PRIVACY: 2 },
};

interface FieldJson {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName?: string;
  oneofIndex?: number;
  proto3Optional?: boolean;
}
interface MessageJson {
  name: string;
  field?: FieldJson[];
  nestedType?: MessageJson[];
  oneofDecl?: { name: string }[];
  options?: { mapEntry?: boolean };
}
interface FileJson {
  name: string;
  package?: string;
  messageType?: MessageJson[];
  enumType?: { name: string; value: { name: string; number: number }[] }[];
  service?: {
    name: string;
    method: { name: string; clientStreaming?: boolean; serverStreaming?: boolean }[];
  }[];
}

function buildDescriptors(): FileJson[] {
  const out = execFileSync(join(repoRoot, 'node_modules/.bin/buf'), ['build', '-o', '-#format=json'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  const files = (JSON.parse(out) as { file: FileJson[] }).file;
  return files.filter((f) => f.package === 'grpc.gcp');
}

const SCALARS: Record<string, string> = {
  TYPE_STRING: 'string',
  TYPE_UINT32: 'uint32',
  TYPE_INT32: 'int32',
  TYPE_BOOL: 'bool',
  TYPE_BYTES: 'bytes',
};

function typeOf(field: FieldJson, all: Map<string, MessageJson>): string {
  if (field.typeName) {
    const name = field.typeName.replace(/^\.grpc\.gcp\./, '');
    const entry = all.get(name);
    if (entry?.options?.mapEntry) {
      const [k, v] = entry.field ?? [];
      assert.ok(k && v, `map entry ${name} has key and value`);
      return `map<${typeOf(k, all)},${typeOf(v, all)}>`;
    }
    return name;
  }
  const scalar = SCALARS[field.type];
  assert.ok(scalar, `unexpected field type ${field.type}`);
  return scalar;
}

function collect(messages: MessageJson[] | undefined, prefix: string, into: Map<string, MessageJson>): void {
  for (const m of messages ?? []) {
    const name = prefix + m.name;
    into.set(name, m);
    collect(m.nestedType, `${name}.`, into);
  }
}

describe('grpc.gcp handshaker contract (docs/protocol.md §2)', () => {
  const files = buildDescriptors();
  const messages = new Map<string, MessageJson>();
  for (const f of files) collect(f.messageType, '', messages);

  it('declares exactly the messages of the spec, field for field', () => {
    const actual: Record<string, Record<string, string>> = {};
    for (const [name, m] of messages) {
      if (m.options?.mapEntry) continue;
      const fields: Record<string, string> = {};
      for (const f of m.field ?? []) {
        const oneof =
          f.oneofIndex !== undefined && !f.proto3Optional ? m.oneofDecl?.[f.oneofIndex]?.name : undefined;
        const type = typeOf(f, messages);
        const label =
          f.label === 'LABEL_REPEATED' && !type.startsWith('map<')
            ? 'repeated '
            : f.proto3Optional
              ? 'optional '
              : '';
        fields[f.name] = `${f.number} ${label}${type}${oneof ? ` oneof ${oneof}` : ''}`;
      }
      actual[name] = fields;
    }
    assert.deepEqual(actual, EXPECTED_MESSAGES);
  });

  it('declares the enums of the spec', () => {
    const actual: Record<string, Record<string, number>> = {};
    for (const f of files) {
      for (const e of f.enumType ?? [])
        actual[e.name] = Object.fromEntries(e.value.map((v) => [v.name, v.number]));
    }
    assert.deepEqual(actual, EXPECTED_ENUMS);
  });

  it('declares the bidi-streaming DoHandshake method at /grpc.gcp.HandshakerService/DoHandshake', () => {
    const service = files.flatMap((f) => f.service ?? []).find((s) => s.name === 'HandshakerService');
    assert.deepEqual(
      service?.method.map((m) => [m.name, m.clientStreaming, m.serverStreaming]),
      [['DoHandshake', true, true]],
    );
    const method = proto.HandshakerServiceService.doHandshake;
    assert.equal(method.path, '/grpc.gcp.HandshakerService/DoHandshake');
    assert.equal(method.requestStream, true);
    assert.equal(method.responseStream, true);
  });

  // The generated encoders must put each field on the wire under the spec's number: set one
  // field at a time and read the tag back.
  it('generated TypeScript encodes every field under its spec number', () => {
    const sample = (type: string): unknown => {
      if (type.startsWith('repeated ')) return [sample(type.slice('repeated '.length))];
      if (type.startsWith('optional ')) return sample(type.slice('optional '.length));
      if (type.startsWith('map<')) return type.startsWith('map<int32') ? { 2: {} } : { k: 'v' };
      switch (type) {
        case 'string':
          return 'x';
        case 'bytes':
          return Buffer.from([1]);
        case 'bool':
          return true;
        case 'uint32':
        case 'int32':
          return 7;
        default:
          return type in EXPECTED_ENUMS ? 1 : {};
      }
    };
    const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    let checked = 0;
    for (const [message, fields] of Object.entries(EXPECTED_MESSAGES)) {
      const codec = (proto as unknown as Record<string, MessageFnsLike>)[message.replace('.', '_')];
      assert.ok(codec, `generated codec for ${message} is exported`);
      for (const [field, spec] of Object.entries(fields)) {
        const [number, ...rest] = spec.replace(/ oneof \w+$/, '').split(' ');
        const value = codec.fromPartial({ [camel(field)]: sample(rest.join(' ')) });
        const reader: BinaryReader = new BinaryReader(codec.encode(value).finish());
        const [fieldNo, wireType]: [number, WireType] = reader.tag();
        assert.equal(fieldNo, Number(number), `${message}.${field} field number`);
        const scalarWire =
          rest.at(-1) === 'bytes' || rest.at(-1) === 'string' ? WireType.LengthDelimited : undefined;
        if (scalarWire !== undefined) assert.equal(wireType, scalarWire, `${message}.${field} wire type`);
        checked++;
      }
    }
    assert.equal(checked, 62);
  });
});
