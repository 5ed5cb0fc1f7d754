import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sourceKey, UnauthenticatedConnections } from './admission.js';

/** Admits a connection that records its eviction reason; fails the test if it is refused. */
function admitted(pending: UnauthenticatedConnections, address: string, evictions: string[] = []) {
  const result = pending.admit(address, (reason) => evictions.push(`${address}: ${reason}`));
  assert.ok('release' in result, `${address} was refused: ${'refused' in result ? result.refused : ''}`);
  return result;
}

describe('HARDENING 32: unauthenticated connections are bounded in total and per source', () => {
  it('counts IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 per /64', () => {
    assert.equal(sourceKey('10.0.0.7'), '10.0.0.7');
    assert.equal(sourceKey('::ffff:10.0.0.7'), '10.0.0.7');
    assert.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('::1'), '0:0:0:0::/64');
    assert.equal(sourceKey(undefined), '?');
  });

  it('refuses past the per-source bound and frees the place on release, once', () => {
    const pending = new UnauthenticatedConnections(3, 2);
    const a = admitted(pending, '10.0.0.1');
    admitted(pending, '10.0.0.1');
    const refusedSource = pending.admit('10.0.0.1', () => {});
    assert.ok('refused' in refusedSource);
    assert.match(refusedSource.refused, /from 10\.0\.0\.1/);
    a.release();
    a.release();
    assert.equal(pending.total, 1);
    admitted(pending, '10.0.0.1');
    assert.ok('refused' in pending.admit('10.0.0.1', () => {}));
  });

  it('refuses past the total when no source holds two more than the newcomer’s', () => {
    const pending = new UnauthenticatedConnections(3, 2);
    admitted(pending, '10.0.0.1');
    admitted(pending, '10.0.0.2');
    admitted(pending, '2001:db8::1');
    const refusedTotal = pending.admit('10.0.0.3', () => {});
    assert.ok('refused' in refusedTotal);
    assert.match(refusedTotal.refused, /limit 3/);
  });
});

describe('HARDENING 41: a full bound fails over to the attacker, not the newcomer', () => {
  it('a newcomer evicts the busiest source’s oldest connection, which then releases nothing twice', () => {
    const pending = new UnauthenticatedConnections(4, 3);
    const evictions: string[] = [];
    const oldest = admitted(pending, '10.0.0.1', evictions);
    admitted(pending, '10.0.0.1', evictions);
    admitted(pending, '10.0.0.1', evictions);
    admitted(pending, '10.0.0.2', evictions);
    admitted(pending, '10.0.0.9', evictions);
    assert.equal(pending.total, 4);
    assert.equal(evictions.length, 1);
    assert.match(evictions[0] ?? '', /^10\.0\.0\.1: 3 connections from 10\.0\.0\.1 were handshaking/);
    oldest.release();
    assert.equal(pending.total, 4, 'an evicted connection’s release is a no-op');
  });

  it('attackers of equal share cannot evict each other; one holding two more can be evicted', () => {
    const pending = new UnauthenticatedConnections(4, 4);
    const evictions: string[] = [];
    for (const address of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.2'])
      admitted(pending, address, evictions);
    assert.ok('refused' in pending.admit('10.0.0.1', () => {}));
    assert.ok('refused' in pending.admit('10.0.0.2', () => {}));
    admitted(pending, '10.0.0.3', evictions);
    assert.equal(evictions.length, 1);
    assert.equal(pending.total, 4);
  });

  it('100 attacking sources hold everything: a client from a new address always gets in', () => {
    const pending = new UnauthenticatedConnections(1_000, 500);
    let refused = 0;
    for (let round = 0; round < 20; round++) {
      for (let a = 0; a < 100; a++) {
        if ('refused' in pending.admit(`10.1.0.${a}`, () => {})) refused++;
      }
    }
    assert.equal(pending.total, 1_000);
    assert.ok(refused > 0, 'the attackers filled the bound');
    for (let n = 0; n < 50; n++) admitted(pending, `192.0.2.${n}`);
    assert.equal(pending.total, 1_000);
  });
});
