/**
 * A throwaway self-signed certificate for the TLS comparator. Node cannot create X.509
 * certificates itself, so this uses the machine's `openssl req`; the key never leaves the temp dir.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runToCompletion } from '@grpc-alts/test-support/processes';
import { TLS_SERVER_NAME } from './services.js';

export interface CertFiles {
  certFile: string;
  keyFile: string;
}

/** Creates an ECDSA P-256 certificate for `localhost`/127.0.0.1 in `dir`; returns why not on failure. */
export async function makeSelfSignedCert(dir: string): Promise<CertFiles | { skipped: string }> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const result = await runToCompletion(
    [
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${TLS_SERVER_NAME}`,
      '-addext',
      `subjectAltName=DNS:${TLS_SERVER_NAME},IP:127.0.0.1`,
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    15_000,
  );
  if (result.code !== 0 || !existsSync(certFile) || !existsSync(keyFile)) {
    return { skipped: `openssl req failed (code ${result.code}): ${result.stderr.split('\n')[0] ?? ''}` };
  }
  return { certFile, keyFile };
}
