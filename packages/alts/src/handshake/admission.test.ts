import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sourceKey, UnauthenticatedConnections } from './admission.js';

describe('HARDENING 32: unauthenticated connections are bounded in total and per source', () => {
  it('counts IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 per /64', () => {
    assert.equal(sourceKey('10.0.0.7'), '10.0.0.7');
    assert.equal(sourceKey('::ffff:10.0.0.7'), '10.0.0.7');
    assert.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('::1'), '0:0:0:0::/64');
    assert.equal(sourceKey(undefined), '?');
  });

  it('refuses past either bound and frees the place on release, once', () => {
    const pending = new UnauthenticatedConnections(3, 2);
    const a = pending.admit('10.0.0.1');
    const b = pending.admit('10.0.0.1');
    const refusedSource = pending.admit('10.0.0.1');
    assert.ok('release' in a && 'release' in b);
    assert.ok('refused' in refusedSource);
    assert.match(refusedSource.refused, /from 10\.0\.0\.1/);
    const c = pending.admit('2001:db8::1');
    const refusedTotal = pending.admit('10.0.0.2');
    assert.ok('release' in c && 'refused' in refusedTotal);
    assert.match(refusedTotal.refused, /limit 3/);
    a.release();
    a.release();
    assert.equal(pending.total, 2);
    assert.ok('release' in pending.admit('10.0.0.1'));
    assert.ok('refused' in pending.admit('10.0.0.1'));
  });
});
