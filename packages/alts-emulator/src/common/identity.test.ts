import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalServiceAccount, checkServiceAccount, sameServiceAccount } from './identity.js';

const SA = 'kiosk@project.iam.gserviceaccount.com';

test('HARDENING 35: service accounts compare with ASCII letters folded, nothing else', () => {
  const same: Array<[string, string]> = [
    [SA, SA],
    [SA, SA.toUpperCase()],
    ['Kiosk@Project.IAM.gserviceaccount.com', SA],
    ['a-b_c.d+e@p', 'A-B_C.D+E@P'],
  ];
  for (const [a, b] of same) assert.ok(sameServiceAccount(a, b), `${a} = ${b}`);
  const different: Array<[string, string]> = [
    ['\u212aiosk@p', 'kiosk@p'], // KELVIN SIGN: Unicode (and grpc-go's EqualFold) folds it to k
    ['\u212aiosk@p', '\u212aiosk@p'], // ...and it matches nothing, not even itself
    ['k\u0131osk@p', 'kiosk@p'], // Turkish dotless i
    ['K\u0130OSK@p', 'kiosk@p'], // Turkish dotted capital I
    ['\uff4biosk@p', 'kiosk@p'], // fullwidth k
    ['\uff4biosk@p', '\uff2biosk@p'], // fullwidth k and K
    ['stra\u00dfe@p', 'STRASSE@P'], // sharp s
    [` ${SA}`, SA],
    [`${SA} `, SA],
    [`${SA} `, `${SA} `],
    [`${SA}\n`, `${SA}\n`],
    ['a\u0000@p', 'a\u0000@p'],
    ['', ''],
    // Only A-Z fold: the characters 0x20 apart from other ASCII are different.
    ['@p', '`p'],
    ['a[b@p', 'a{b@p'],
    ['a^b@p', 'a~b@p'],
  ];
  for (const [a, b] of different) {
    assert.ok(!sameServiceAccount(a, b), `${JSON.stringify(a)} != ${JSON.stringify(b)}`);
    assert.ok(!sameServiceAccount(b, a), `${JSON.stringify(b)} != ${JSON.stringify(a)}`);
  }
  assert.equal(canonicalServiceAccount('Kiosk@P'), 'kiosk@p');
  assert.equal(canonicalServiceAccount('\u212aiosk@p'), undefined);
});

test('HARDENING 35: only bounded visible ASCII may be certified or disabled', () => {
  checkServiceAccount(SA);
  checkServiceAccount('x'.repeat(1024));
  assert.throws(() => checkServiceAccount(''), /must not be empty/);
  assert.throws(() => checkServiceAccount('x'.repeat(1025)), /longer than 1024 bytes/);
  for (const sa of ['\u212aiosk@p', 'a b@p', ' a@p', 'a@p\n', 'a\u202e@p', '\uff4b@p']) {
    assert.throws(
      () => checkServiceAccount(sa),
      (e: Error) => /outside visible ASCII/.test(e.message) && /^[\x20-\x7e]*$/.test(e.message),
    );
  }
});
