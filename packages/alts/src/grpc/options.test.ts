import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AltsError } from '../errors.js';
import { isGcpProductName, isRunningOnGcp } from '../handshake/platform.js';
import {
  checkPlatform,
  checkTimeout,
  DEFAULT_HANDSHAKER_SERVICE_ADDRESS,
  maxConcurrentHandshakes,
  resolveClientOptions,
  resolveHandshakerAddress,
  resolveServerOptions,
} from './options.js';

describe('handshaker address resolution', () => {
  it('defaults to the metadata server, not explicit', () => {
    assert.deepEqual(resolveHandshakerAddress(undefined, {}), {
      address: DEFAULT_HANDSHAKER_SERVICE_ADDRESS,
      explicit: false,
    });
    assert.equal(DEFAULT_HANDSHAKER_SERVICE_ADDRESS, 'metadata.google.internal.:8080');
  });

  it('prefers the option, then ALTS_HANDSHAKER_SERVICE_ADDRESS, then GCE_METADATA_HOST on port 8080', () => {
    const env = { ALTS_HANDSHAKER_SERVICE_ADDRESS: '127.0.0.1:9000', GCE_METADATA_HOST: 'meta:80' };
    assert.equal(resolveHandshakerAddress('localhost:1', env).address, 'localhost:1');
    assert.equal(resolveHandshakerAddress(undefined, env).address, '127.0.0.1:9000');
    assert.equal(resolveHandshakerAddress(undefined, { GCE_METADATA_HOST: 'meta:80' }).address, 'meta:8080');
    assert.equal(resolveHandshakerAddress(undefined, { GCE_METADATA_HOST: 'meta' }).address, 'meta:8080');
    assert.equal(resolveHandshakerAddress(undefined, { GCE_METADATA_HOST: '[::1]' }).address, '[::1]:8080');
    assert.equal(
      resolveHandshakerAddress(undefined, { GCE_METADATA_HOST: '[::1]:80' }).address,
      '[::1]:8080',
    );
    assert.ok(resolveHandshakerAddress(undefined, env).explicit);
  });

  it('rejects an empty option', () => {
    assert.throws(
      () => resolveHandshakerAddress('  ', {}),
      (e) => AltsError.is(e) && e.code === 'INVALID_ARGUMENT',
    );
  });
});

describe('HARDENING 27: platform gate', () => {
  it('recognises the GCE product names after trimming', () => {
    assert.ok(isGcpProductName('Google Compute Engine\n'));
    assert.ok(isGcpProductName(' Google '));
    assert.ok(!isGcpProductName('Google Compute Engine (fake)'));
    assert.ok(!isGcpProductName('KVM'));
    assert.ok(!isGcpProductName(undefined));
  });

  it('uses an injected product-name reader', () => {
    assert.equal(
      isRunningOnGcp(() => 'Google'),
      true,
    );
    assert.equal(
      isRunningOnGcp(() => undefined),
      false,
    );
  });

  it('fails closed off Google Cloud with the default address, with a message that says how to opt in', () => {
    const offGcp = () => 'Standard PC';
    assert.throws(
      () => checkPlatform(resolveHandshakerAddress(undefined, {}), offGcp),
      (e) =>
        AltsError.is(e) &&
        e.code === 'UNTRUSTED_PLATFORM' &&
        /only supported on Google Cloud/.test(e.message) &&
        /ALTS_HANDSHAKER_SERVICE_ADDRESS/.test(e.message),
    );
  });

  it('lets an explicit handshaker address opt in off Google Cloud, and allows the default on GCE', () => {
    checkPlatform(resolveHandshakerAddress('127.0.0.1:1', {}), () => 'Standard PC');
    checkPlatform(resolveHandshakerAddress(undefined, {}), () => 'Google Compute Engine');
  });
});

describe('limits', () => {
  it('GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES is parsed and clamped to [1, 100] like grpc-go', () => {
    assert.equal(maxConcurrentHandshakes({}), 100);
    assert.equal(maxConcurrentHandshakes({ GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES: '7' }), 7);
    assert.equal(maxConcurrentHandshakes({ GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES: '0' }), 1);
    assert.equal(maxConcurrentHandshakes({ GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES: '1000' }), 100);
    assert.equal(
      maxConcurrentHandshakes({ GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES: '99999999999999999999' }),
      100,
    );
    assert.equal(maxConcurrentHandshakes({ GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES: '-3' }), 100);
    assert.equal(maxConcurrentHandshakes({ GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES: 'many' }), 100);
  });

  it('handshake timeouts are positive integers up to 2 minutes', () => {
    assert.equal(checkTimeout('t', undefined, 20_000), 20_000);
    assert.equal(checkTimeout('t', 500, 20_000), 500);
    for (const bad of [0, -1, 1.5, 120_001, Number.NaN]) {
      assert.throws(
        () => checkTimeout('t', bad, 1),
        (e) => AltsError.is(e) && e.code === 'INVALID_ARGUMENT',
      );
    }
  });
});

describe('a handshaker address without a port', () => {
  const refusal = (option: string | undefined, env: NodeJS.ProcessEnv = {}) => {
    try {
      resolveHandshakerAddress(option, env);
    } catch (e) {
      assert.ok(AltsError.is(e) && e.code === 'INVALID_ARGUMENT', String(e));
      return e.message;
    }
    return assert.fail(`${option} was accepted`);
  };

  it('is refused, naming the fix, instead of silently meaning port 443', () => {
    for (const [address, fix] of [
      ['127.0.0.1', '127.0.0.1:8080'],
      ['localhost', 'localhost:8080'],
      ['http://127.0.0.1:8080', '127.0.0.1:8080'],
      ['https://handshaker.internal/', 'handshaker.internal:8080'],
      ['::1', '[::1]:8080'],
      ['[::1]', '[::1]:8080'],
      ['dns:///localhost', 'localhost:8080'],
      ['ipv4:10.0.0.1:8080,10.0.0.2', '10.0.0.2:8080'],
      ['127.0.0.1:0', '127.0.0.1:8080'],
    ]) {
      const message = refusal(address);
      assert.ok(
        message.startsWith(
          `[INVALID_ARGUMENT] handshakerServiceAddress "${address}" is not a host:port to dial: `,
        ),
        message,
      );
      assert.ok(message.includes(`write it as "${fix}"`), message);
    }
    const env = refusal(undefined, { ALTS_HANDSHAKER_SERVICE_ADDRESS: 'localhost' });
    assert.match(
      env,
      /ALTS_HANDSHAKER_SERVICE_ADDRESS "localhost" is not a host:port to dial: write it as "localhost:8080"/,
    );
  });

  it('host:port, [ipv6]:port and gRPC targets with ports or socket paths are taken as given', () => {
    for (const address of [
      '127.0.0.1:8080',
      'metadata.google.internal.:8080',
      '[::1]:8080',
      'dns:///handshaker:8080',
      'dns://8.8.8.8/handshaker:8080',
      'ipv4:10.0.0.1:8080,10.0.0.2:8080',
      'ipv6:[::1]:8080',
      'unix:/run/handshaker.sock',
      'unix-abstract:handshaker',
    ]) {
      assert.equal(resolveHandshakerAddress(address, {}).address, address);
    }
  });
});

describe('resolved options', () => {
  const address = { handshakerServiceAddress: '127.0.0.1:1' };

  it('the defaults the README Configuration table lists', () => {
    const client = resolveClientOptions(address);
    assert.equal(client.common.timeoutMs, 20_000);
    assert.equal(client.common.maxFrameSize, 131_072);
    assert.deepEqual(client.targetServiceAccounts, []);
    const server = resolveServerOptions(address);
    assert.equal(server.common.timeoutMs, 30_000);
    assert.equal(server.maxUnauthenticatedConnections, 1_000);
    assert.equal(server.maxUnauthenticatedConnectionsPerAddress, 500);
    assert.equal(server.firstMessageTimeoutMs, 10_000);
    assert.equal(server.peerMessageTimeoutMs, 5_000);
  });

  it('an out-of-range value is INVALID_ARGUMENT naming the option, its bounds and the value', () => {
    const cases: [object, RegExp][] = [
      [{ maxFrameSize: 100 }, /maxFrameSize must be an integer in \[16384, 1048576\], got 100/],
      [{ handshakeTimeoutMs: 0 }, /handshakeTimeoutMs must be an integer in \[1, 120000\] ms, got 0/],
      [{ firstMessageTimeoutMs: 1.5 }, /firstMessageTimeoutMs must be an integer in \[1, 120000\] ms/],
      [
        { maxUnauthenticatedConnections: 0 },
        /maxUnauthenticatedConnections must be an integer in \[1, 100000\]/,
      ],
      [{ onHandshakeFailure: 'log' }, /onHandshakeFailure must be a function/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => resolveServerOptions({ ...address, ...options }),
        (e) => AltsError.is(e) && e.code === 'INVALID_ARGUMENT' && message.test(e.message),
      );
    }
  });
});
