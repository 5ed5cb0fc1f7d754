import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalServiceAccount, canonicalSet, serviceAccountIn } from './identity.js';

describe('HARDENING 35: one identity rule (ASCII letters folded, anything else matches nothing)', () => {
  const allowed = canonicalSet(['Frontend@Hospital.iam.gserviceaccount.com', 'kelvin@x.iam']);

  it('folds ASCII case only', () => {
    assert.equal(serviceAccountIn('FRONTEND@hospital.IAM.gserviceaccount.com', allowed), true);
    assert.equal(serviceAccountIn('KELVIN@X.IAM', allowed), true);
  });

  it('never lets a Unicode look-alike or case mapping stand for an ASCII letter', () => {
    for (const lookalike of [
      '\u212aelvin@x.iam', // KELVIN SIGN, which Unicode folds to k (grpc-go's EqualFold too)
      'kelv\u0131n@x.iam', // dotless i
      '\uff4belvin@x.iam', // fullwidth k
      'kelvin@x.iam\u200b', // zero-width space
    ]) {
      assert.equal(canonicalServiceAccount(lookalike), undefined, lookalike);
      assert.equal(serviceAccountIn(lookalike, allowed), false, lookalike);
    }
  });

  it('an allow-list entry that is not printable ASCII matches nothing, not even itself', () => {
    const odd = canonicalSet(['\u212aelvin@x.iam', 'a b@x.iam', '']);
    assert.equal(odd.size, 0);
    assert.equal(serviceAccountIn('\u212aelvin@x.iam', odd), false);
  });

  it('spaces and control characters are not trimmed away by the rule', () => {
    assert.equal(serviceAccountIn(' kelvin@x.iam', allowed), false);
    assert.equal(serviceAccountIn('kelvin@x.iam\n', allowed), false);
    assert.equal(serviceAccountIn('', allowed), false);
  });
});
