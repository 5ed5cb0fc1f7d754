// The /proc/net/tcp{,6} parser behind an emulator that serves one local user (HARDENING 46).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpoint, parseTcpLine, peerUidWorks } from './peer-uid.js';

const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
/** 127.0.0.1:43403 -> 127.0.0.2:8080, established, uid 65534, as a little-endian kernel prints it. */
const TCP_LE =
  '   7: 0100007F:A98B 0200007F:1F90 01 00000000:00000000 00:00000000 00000000 65534        0 354938 1 ' +
  '000000006d2902a7 20 4 30 10 -1';

test(
  'HARDENING 46: parseTcpLine reads both endpoints and the owner of an IPv4 socket, ' + 'in host byte order',
  () => {
    assert.deepEqual(parseTcpLine(TCP_LE, true), {
      local: endpoint('127.0.0.1', 43403),
      remote: endpoint('127.0.0.2', 8080),
      uid: 65534,
    });
    // A big-endian kernel prints the same address bytes the other way round.
    const big = TCP_LE.replace('0100007F', '7F000001').replace('0200007F', '7F000002');
    assert.deepEqual(parseTcpLine(big, false), parseTcpLine(TCP_LE, true));
  },
);

test(
  'HARDENING 46: parseTcpLine reads IPv6 sockets; ' +
    'an IPv4-mapped peer is the same endpoint as its IPv4 spelling',
  () => {
    const mapped =
      '   2: 0000000000000000FFFF00000100007F:D431 0000000000000000FFFF00000200007F:1F90 01 ' +
      '00000000:00000000 00:00000000 00000000  1000        0 9 1 0 20 4 30 10 -1';
    assert.deepEqual(parseTcpLine(mapped, true), {
      local: endpoint('127.0.0.1', 0xd431),
      remote: endpoint('::ffff:127.0.0.2', 8080),
      uid: 1000,
    });
    const loopback =
      '   3: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:C350 01 ' +
      '00000000:00000000 00:00000000 00000000     0        0 9 1 0 20 4 30 10 -1';
    assert.deepEqual(parseTcpLine(loopback, true), {
      local: endpoint('::1', 8080),
      remote: endpoint('0:0:0:0:0:0:0:1', 50000),
      uid: 0,
    });
  },
);

test('HARDENING 46: parseTcpLine refuses the header and malformed lines', () => {
  for (const line of [
    HEADER,
    '',
    TCP_LE.replace('0100007F:A98B', '0100007F'),
    TCP_LE.replace('0100007F:A98B', '0100007G:A98B'),
    TCP_LE.replace('0200007F:1F90', '0200007F:1F90:1'),
    TCP_LE.replace(' 65534 ', ' -1 '),
    TCP_LE.replace(' 65534 ', ' 12345678901 '),
    '   7: 0100007F:A98B 0200007F:1F90 01',
  ]) {
    assert.equal(parseTcpLine(line, true), undefined, line);
  }
});

test('HARDENING 46: on this machine peerUid finds our own uid on a loopback connection ' +
  '(run checks this first)', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
  assert.equal(await peerUidWorks(), true);
});
