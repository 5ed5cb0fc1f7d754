import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeAltsError, describeFailure } from './call-failure.js';

const SERVER = '127.0.0.1:8080';
/** grpc-js 1.14's pick_first report, around `String(error)` of the last connection error. */
const report = (lastError: string, note = '') =>
  `No connection established. Last error: ${lastError}. Resolution note: ${note}`;

describe('describeFailure: what the client prints for a failed call', () => {
  it('an unreachable server: names it and what to check, without grpc-js’s report around it', () => {
    assert.equal(
      describeFailure(report('Error: connect ECONNREFUSED 127.0.0.1:8080'), SERVER),
      'cannot connect to 127.0.0.1:8080: connect ECONNREFUSED 127.0.0.1:8080; is ot-booking-server running ' +
        'there?',
    );
  });

  it('a refused handshake: the handshaker’s reason, once, without the AltsError code', () => {
    const reason =
      'the ALTS handshaker service refused the client handshake to 127.0.0.1:8080: IAM: disabled';
    assert.equal(describeFailure(report(`AltsError: [HANDSHAKER_ERROR] ${reason}`), SERVER), reason);
  });

  it('an unreachable handshaker: the reason and how to start one', () => {
    const line = describeFailure(
      report(
        'AltsError: [HANDSHAKER_UNAVAILABLE] the ALTS handshaker service at 127.0.0.1:1 failed: connect ' +
          'ECONNREFUSED 127.0.0.1:1',
      ),
      SERVER,
    );
    assert.match(
      line,
      /^the ALTS handshaker service at 127\.0\.0\.1:1 failed: connect ECONNREFUSED 127\.0\.0\.1:1; /,
    );
    assert.match(line, /npx alts-emulator --listen/);
  });

  it('keeps a resolution note that says something', () => {
    assert.equal(
      describeFailure(
        report('Error: connect ETIMEDOUT 10.0.0.1:8080', 'DNS gave 2 addresses'),
        '10.0.0.1:8080',
      ),
      'cannot connect to 10.0.0.1:8080: connect ETIMEDOUT 10.0.0.1:8080 (DNS gave 2 addresses); is ' +
        'ot-booking-server running there?',
    );
  });

  it('an AltsError thrown at creation names the programs’ flag, not the library option', () => {
    const untrusted =
      '[UNTRUSTED_PLATFORM] ALTS is only supported on Google Cloud: this machine is not a Google Compute ' +
      'Engine VM. Set the handshakerServiceAddress option or ALTS_HANDSHAKER_SERVICE_ADDRESS to use a ' +
      'local handshaker (for example the alts-emulator)';
    const line =
      'ALTS is only supported on Google Cloud: this machine is not a Google Compute Engine VM. Set ' +
      '--handshaker or ALTS_HANDSHAKER_SERVICE_ADDRESS to use a local handshaker (for example the ' +
      'alts-emulator)';
    assert.equal(describeFailure(untrusted, SERVER), line);
    assert.equal(describeAltsError(untrusted), line);
    assert.equal(
      describeAltsError('[INVALID_ARGUMENT] handshakerServiceAddress "h" is not a host:port to dial'),
      '--handshaker "h" is not a host:port to dial',
    );
  });

  it('leaves the server’s own status details alone', () => {
    for (const details of ['Client a@p is not authorized', 'no booking for patient PT-9 with DC-1', '']) {
      assert.equal(describeFailure(details, SERVER), details);
    }
  });
});
