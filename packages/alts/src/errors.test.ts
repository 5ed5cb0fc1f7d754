import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { ALTS_ERROR_STATUS } from './errors.js';

// The API reference is where users look codes up (docs/api, from these comments): each code's
// comment must open with the status the code really maps to, so the two cannot drift apart.
it('each AltsErrorCode is documented, opening with the gRPC status it maps to', () => {
  const source = readFileSync(fileURLToPath(new URL('../src/errors.ts', import.meta.url)), 'utf8');
  for (const [code, grpcStatus] of Object.entries(ALTS_ERROR_STATUS)) {
    const comment = new RegExp(`/\\*\\*((?:(?!\\*/)[^])*)\\*/\\s*${code}: status\\.`).exec(source)?.[1];
    assert.ok(comment, `${code} has a doc comment`);
    const text = comment.replace(/\s*\n\s*\*\s*/g, ' ').trim();
    assert.ok(
      text.startsWith(`${status[grpcStatus]}. `),
      `${code}: "${text}" opens with ${status[grpcStatus]}`,
    );
  }
});
