import assert from 'node:assert/strict';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifyCertificate } from './certificate.js';
import { cleanupsAfterAll, tempStateDir } from './driver.test.util.js';
import { disableServiceAccount, enableServiceAccount, readDisabledServiceAccounts } from './iam.js';
import { openIdentity, openTrustRoot } from './trust.js';

const cleanups = cleanupsAfterAll();

async function stateDir(): Promise<string> {
  const { dir, cleanup } = await tempStateDir();
  cleanups.push(cleanup);
  return join(dir, 'nested', 'state');
}

test('concurrent first use of a state directory yields one root and one key per identity', async () => {
  const dir = await stateDir();
  const roots = await Promise.all(Array.from({ length: 8 }, () => openTrustRoot(dir)));
  const ids = new Set(roots.map((r) => r.anchor.keyId.toString('hex')));
  assert.equal(ids.size, 1);
  const [root] = roots;
  assert.ok(root);
  const identities = await Promise.all(roots.map((r) => openIdentity(dir, r, 'a@x.iam')));
  assert.equal(new Set(identities.map((i) => i.certificate.toString('hex'))).size, 1);
  assert.equal(
    verifyCertificate(identities[0]?.certificate ?? Buffer.alloc(0), root.anchor).serviceAccount,
    'a@x.iam',
  );
  assert.equal((await stat(join(dir, 'root-key.pem'))).mode & 0o777, 0o600);
  assert.ok(
    (await readdir(dir)).every((name) => !name.endsWith('.tmp')),
    'no temp files left',
  );
});

test('an identity file from another root is refused with a clear error', async () => {
  const a = await stateDir();
  const b = await stateDir();
  const rootA = await openTrustRoot(a);
  const rootB = await openTrustRoot(b);
  await openIdentity(a, rootA, 'a@x.iam');
  await assert.rejects(openIdentity(a, rootB, 'a@x.iam'), /not issued by the trust root/);
});

test('IAM: disable and enable are idempotent; a corrupt file fails closed', async () => {
  const dir = await stateDir();
  assert.equal((await readDisabledServiceAccounts(dir)).listed.length, 0);
  await disableServiceAccount(dir, 'a@x.iam');
  await disableServiceAccount(dir, 'a@x.iam');
  await disableServiceAccount(dir, 'b@x.iam');
  assert.deepEqual((await readDisabledServiceAccounts(dir)).listed, ['a@x.iam', 'b@x.iam']);
  await enableServiceAccount(dir, 'a@x.iam');
  await enableServiceAccount(dir, 'c@x.iam');
  assert.deepEqual((await readDisabledServiceAccounts(dir)).listed, ['b@x.iam']);
  await assert.rejects(disableServiceAccount(dir, ''), /must not be empty/);
  await writeFile(join(dir, 'iam.json'), '{"disabledServiceAccounts": "everyone"}');
  await assert.rejects(readDisabledServiceAccounts(dir), /list of strings/);
});
