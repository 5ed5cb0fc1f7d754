import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  MAX_VERIFIED_CERTIFICATES,
  type TrustAnchor,
  verifiedCertificatesForTesting,
  verifyCertificate,
} from './certificate.js';
import { HandshakeError } from './errors.js';
import { ClientHandshake, type Offer, ServerHandshake } from './handshake.js';
import { KEY_DATA_BYTES } from './key-schedule.js';
import { memoryTrustRoot } from './memory-root.test.util.js';
import { decodeAlert, encodeAlert } from './messages.js';
import { HEADER_BYTES, MAX_BODY_BYTES, MessageType, type RawMessage, takeMessage } from './wire.js';

const OFFER: Offer = {
  applicationProtocols: ['grpc'],
  recordProtocols: ['ALTSRP_GCM_AES128_REKEY'],
  rpcVersions: { maxRpcVersion: { major: 2, minor: 1 }, minRpcVersion: { major: 2, minor: 1 } },
  maxFrameSize: 131072,
};

const root = memoryTrustRoot();
const alice = root.identity('alice@example.iam.gserviceaccount.com');
const bob = root.identity('bob@example.iam.gserviceaccount.com');

function one(bytes: Buffer): RawMessage {
  const taken = takeMessage(bytes);
  assert.ok(taken, 'a complete message');
  assert.equal(taken.rest.length, 0);
  return taken.message;
}

function two(bytes: Buffer): [RawMessage, RawMessage] {
  const first = takeMessage(bytes);
  assert.ok(first);
  const second = takeMessage(first.rest);
  assert.ok(second);
  assert.equal(second.rest.length, 0);
  return [first.message, second.message];
}

type Tamper = { flight: 'clientInit' | 'serverFlight' | 'clientFinished'; index: number };

/** Runs both state machines; a tampered message makes some step throw or never complete. */
function run(tamper?: Tamper, clientIdentity = alice, serverAnchor = root.anchor) {
  const flip = (flight: Tamper['flight'], bytes: Buffer) => {
    if (tamper?.flight !== flight) return bytes;
    const copy = Buffer.from(bytes);
    copy[tamper.index] = (copy[tamper.index] ?? 0) ^ 0x01;
    return copy;
  };
  const client = new ClientHandshake(clientIdentity, root.anchor, OFFER);
  const server = new ServerHandshake(bob, serverAnchor, { ...OFFER, maxFrameSize: 1048576 });
  const serverFlight = flip('serverFlight', server.respond(one(flip('clientInit', client.clientInit))));
  const [serverInit, serverFinished] = two(serverFlight);
  const serverName = client.verifyServerFlight(serverInit, serverFinished);
  const { clientFinished, established: clientSide } = client.finish();
  const serverSide = server.verifyClientFinished(one(flip('clientFinished', clientFinished)));
  return {
    serverName,
    clientSide,
    serverSide,
    sizes: [client.clientInit.length, serverFlight.length, clientFinished.length],
  };
}

describe('framing', () => {
  test('an incomplete message waits; the rest after a message is returned', () => {
    const alert = encodeAlert({ code: 7, details: 'no' });
    for (let n = 0; n < alert.length; n++) assert.equal(takeMessage(alert.subarray(0, n)), undefined);
    const taken = takeMessage(Buffer.concat([alert, Buffer.from('records')]));
    assert.ok(taken);
    assert.equal(taken.message.type, MessageType.ALERT);
    assert.deepEqual(decodeAlert(taken.message.body), { code: 7, details: 'no' });
    assert.equal(taken.rest.toString(), 'records');
  });

  test('bytes of another handshaker fail at the first byte', () => {
    assert.throws(() => takeMessage(Buffer.from('C')), /bad magic/);
    assert.throws(() => takeMessage(Buffer.from('ClientInit')), /bad magic/);
  });

  test('a declared length above the bound fails before the body arrives', () => {
    const header = Buffer.from([0x41, 0x45, 1, MessageType.CLIENT_INIT, 0, 0, 0, 0]);
    header.writeUInt32BE(MAX_BODY_BYTES + 1, 4);
    assert.equal(header.length, HEADER_BYTES);
    assert.throws(() => takeMessage(header), /exceeds/);
  });

  test('unknown versions and types are rejected', () => {
    assert.throws(() => takeMessage(Buffer.from([0x41, 0x45, 2, 1, 0, 0, 0, 0])), /wire version/);
    assert.throws(() => takeMessage(Buffer.from([0x41, 0x45, 1, 9, 0, 0, 0, 0])), /message type/);
  });

  test('alert details are cut at a character boundary', () => {
    const alert = decodeAlert(one(encodeAlert({ code: 7, details: 'é'.repeat(2000) })).body);
    assert.equal(alert.details, 'é'.repeat(512));
  });
});

describe('certificates', () => {
  test('verify under the issuing root only', () => {
    assert.equal(verifyCertificate(alice.certificate, root.anchor).serviceAccount, alice.serviceAccount);
    assert.throws(() => verifyCertificate(alice.certificate, memoryTrustRoot().anchor), /another trust root/);
  });

  test('a forged certificate claiming the root key id fails', () => {
    const forged = Buffer.from(alice.certificate);
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    assert.throws(() => verifyCertificate(forged, root.anchor), /bad signature/);
  });

  test('a remembered verification answers only the same bytes under the same root', () => {
    const first = verifyCertificate(alice.certificate, root.anchor);
    assert.equal(verifyCertificate(Buffer.from(alice.certificate), root.anchor), first);
    const flipped = Buffer.from(alice.certificate);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    assert.throws(() => verifyCertificate(flipped, root.anchor), /bad signature/);
    // Same key id, another key: only the signature check can tell, and it must still run.
    const impostor: TrustAnchor = { publicKey: memoryTrustRoot().anchor.publicKey, keyId: root.anchor.keyId };
    assert.throws(() => verifyCertificate(alice.certificate, impostor), /bad signature/);
    assert.equal(verifiedCertificatesForTesting(impostor), 0);
  });

  test('remembered verifications are bounded, the least recently used going first', () => {
    const fleet = memoryTrustRoot();
    const { anchor } = fleet;
    const identityKey = generateKeyPairSync('ed25519').publicKey;
    const issue = (i: number) => fleet.certificate(`sa-${i}@example.iam.gserviceaccount.com`, identityKey);
    const first = Array.from({ length: MAX_VERIFIED_CERTIFICATES }, (_, i) =>
      verifyCertificate(issue(i), anchor),
    );
    assert.equal(verifiedCertificatesForTesting(anchor), MAX_VERIFIED_CERTIFICATES);
    // A hit (the very object remembered) makes sa-0 the most recent, so the next newcomer
    // pushes out sa-1, which is then verified afresh (a new object).
    assert.equal(verifyCertificate(issue(0), anchor), first[0]);
    verifyCertificate(issue(MAX_VERIFIED_CERTIFICATES), anchor);
    assert.equal(verifiedCertificatesForTesting(anchor), MAX_VERIFIED_CERTIFICATES);
    assert.equal(verifyCertificate(issue(0), anchor), first[0]);
    assert.notEqual(verifyCertificate(issue(1), anchor), first[1]);
  });
});

describe('handshake state machines', () => {
  test('both sides derive the same fresh key and see each other', () => {
    const a = run();
    assert.equal(a.serverName, bob.serviceAccount);
    assert.equal(a.serverSide.peerServiceAccount, alice.serviceAccount);
    assert.equal(a.clientSide.peerServiceAccount, bob.serviceAccount);
    assert.equal(a.clientSide.keyData.length, KEY_DATA_BYTES);
    assert.deepEqual(a.clientSide.keyData, a.serverSide.keyData);
    assert.equal(a.clientSide.peerMaxFrameSize, 1048576);
    assert.equal(a.serverSide.peerMaxFrameSize, 131072);
    assert.notDeepEqual(run().clientSide.keyData, a.clientSide.keyData);
  });

  test('flipping any bit-0 of any byte of any message fails the handshake', () => {
    const sizes = run().sizes;
    const flights = ['clientInit', 'serverFlight', 'clientFinished'] as const;
    let checked = 0;
    flights.forEach((flight, i) => {
      for (let index = 0; index < (sizes[i] ?? 0); index++) {
        // Either some step throws, or a length grew and the message never completes (a stall
        // the connection deadline ends); `two`/`one` turn the stall into an assertion error.
        assert.throws(() => run({ flight, index }), `${flight}[${index}] was accepted`);
        checked++;
      }
    });
    assert.ok(checked > 400, `checked ${checked} positions`);
  });

  test('an identity from another trust root is rejected by both sides', () => {
    const stranger = memoryTrustRoot().identity('mallory@example.iam.gserviceaccount.com');
    assert.throws(
      () => run(undefined, stranger),
      (e: unknown) => e instanceof HandshakeError && /another trust root/.test(e.message),
    );
    assert.throws(() => run(undefined, alice, memoryTrustRoot().anchor), /another trust root|signature/);
  });

  test('messages spliced from another handshake fail', () => {
    const c1 = new ClientHandshake(alice, root.anchor, OFFER);
    const c2 = new ClientHandshake(alice, root.anchor, OFFER);
    const s1 = new ServerHandshake(bob, root.anchor, OFFER);
    const s2 = new ServerHandshake(bob, root.anchor, OFFER);
    const f1 = two(s1.respond(one(c1.clientInit)));
    const f2 = two(s2.respond(one(c2.clientInit)));
    // ServerInit of one connection with ServerFinished of another, and whole flights swapped.
    assert.throws(() => c1.verifyServerFlight(f1[0], f2[1]), /ServerFinished/);
    assert.throws(() => c1.verifyServerFlight(f2[0], f2[1]), /ServerFinished/);
    c1.verifyServerFlight(f1[0], f1[1]);
    c2.verifyServerFlight(f2[0], f2[1]);
    assert.throws(() => s2.verifyClientFinished(one(c1.finish().clientFinished)), /ClientFinished/);
  });
});
