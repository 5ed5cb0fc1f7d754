import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { AltsError } from '../errors.js';
import { createAltsChannelCredentials } from '../index.js';
import {
  checkGrpcJsHooks,
  findOtherGrpcJsCopies,
  type GrpcJsSurface,
  SECOND_GRPC_JS_WARNING,
  SUPPORTED_GRPC_JS_RANGE,
} from './compat.js';

const OLD = { version: '1.13.4', directory: '/app/node_modules/@grpc/grpc-js' };

/** The real grpc-js with the members `strip` names missing, as an older release has them. */
function olderGrpcJs(strip: { credentials?: true; authContext?: true }): GrpcJsSurface {
  return {
    credentials: strip.credentials ? { createInsecure: () => ({}) } : grpc.credentials,
    Server: grpc.Server,
    experimental: grpc.experimental,
    ServerInterceptingCall: strip.authContext ? { prototype: {} } : grpc.ServerInterceptingCall,
  };
}

function incompatible(...named: string[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof AltsError);
    assert.equal(error.code, 'INVALID_ARGUMENT');
    for (const text of [OLD.version, OLD.directory, SUPPORTED_GRPC_JS_RANGE, ...named]) {
      assert.ok(error.message.includes(text), `"${error.message}" names ${text}`);
    }
    return true;
  };
}

describe('grpc-js compatibility', () => {
  it('accepts the installed grpc-js', () => {
    checkGrpcJsHooks(grpc, { version: '1.14.7', directory: '/x' });
  });

  it('names the installed and supported versions when getAuthContext is missing (1.13.x)', () => {
    assert.throws(
      () => checkGrpcJsHooks(olderGrpcJs({ authContext: true }), OLD),
      incompatible('ServerInterceptingCall.getAuthContext', 'ServerInterceptingCall.getConnectionInfo'),
    );
  });

  it('names the client hook when credentials have no secure connector (1.12.x)', () => {
    assert.throws(
      () => checkGrpcJsHooks(olderGrpcJs({ credentials: true, authContext: true }), OLD),
      incompatible('ChannelCredentials._createSecureConnector'),
    );
  });

  it('states the range package.json declares', async () => {
    const manifest = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      peerDependencies: Record<string, string>;
    };
    assert.equal(manifest.peerDependencies['@grpc/grpc-js'], SUPPORTED_GRPC_JS_RANGE);
  });

  it('finds no second copy in this workspace', () => {
    assert.deepEqual(
      findOtherGrpcJsCopies(createRequire(import.meta.url).cache, grpc.ChannelCredentials),
      [],
    );
  });

  it('warns once, at credential creation, when a second grpc-js copy is loaded', async () => {
    const app = await mkdtemp(join(tmpdir(), 'alts-second-grpc-js-'));
    const copy = join(app, 'node_modules', '@grpc', 'grpc-js');
    const entry = join(copy, 'build', 'src', 'index.js');
    const require = createRequire(join(app, 'app.js'));
    try {
      await mkdir(join(copy, 'build', 'src'), { recursive: true });
      await writeFile(
        join(copy, 'package.json'),
        JSON.stringify({ name: '@grpc/grpc-js', version: '1.14.3', main: 'build/src/index.js' }),
      );
      await writeFile(entry, 'exports.ChannelCredentials = class ChannelCredentials {};\n');
      require('@grpc/grpc-js');

      const warned = once(process, 'warning');
      createAltsChannelCredentials({ handshakerServiceAddress: '127.0.0.1:1' });
      const [warning] = (await warned) as [Error & { code?: string }];
      assert.equal(warning.code, SECOND_GRPC_JS_WARNING);
      assert.match(warning.message, /second copy, 1\.14\.3 at /);
      assert.ok(warning.message.includes(copy));

      let again = false;
      const onWarning = (w: Error & { code?: string }) => {
        again ||= w.code === SECOND_GRPC_JS_WARNING;
      };
      process.on('warning', onWarning);
      createAltsChannelCredentials({ handshakerServiceAddress: '127.0.0.1:1' });
      await new Promise((resolve) => setImmediate(resolve));
      process.off('warning', onWarning);
      assert.equal(again, false, 'the same copy is reported once');
    } finally {
      delete require.cache[entry];
      await rm(app, { recursive: true, force: true });
    }
  });
});
