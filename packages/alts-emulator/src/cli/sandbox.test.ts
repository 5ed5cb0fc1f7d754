import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  commandEnded,
  forwardedSignal,
  parseCommandEnded,
  sandboxHosts,
  sandboxNsswitch,
} from './sandbox.js';

test('sandboxHosts: drops the machine entries for the metadata name, keeps the rest, adds ours', () => {
  const hosts = [
    '127.0.0.1 localhost',
    '# 169.254.169.254 metadata.google.internal (a comment stays)',
    '169.254.169.254 metadata.google.internal metadata  # a real VM',
    '10.0.0.5 metadata.google.internal.',
    '::1 ip6-localhost',
    '',
  ].join('\n');
  assert.equal(
    sandboxHosts(hosts, '127.0.0.7'),
    [
      '127.0.0.1 localhost',
      '# 169.254.169.254 metadata.google.internal (a comment stays)',
      '::1 ip6-localhost',
      '127.0.0.7 metadata.google.internal metadata.google.internal.',
      '',
    ].join('\n'),
  );
  assert.equal(
    sandboxHosts('', '127.0.0.2'),
    '127.0.0.2 metadata.google.internal metadata.google.internal.\n',
  );
});

test('sandboxNsswitch: files first on the hosts line, every other source kept in order', () => {
  assert.equal(
    sandboxNsswitch('passwd: files\nhosts:  mdns4_minimal [NOTFOUND=return] dns files myhostname\n'),
    'passwd: files\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\n',
  );
  assert.equal(sandboxNsswitch('hosts: files dns\n'), 'hosts: files dns\n');
  assert.equal(sandboxNsswitch('passwd: files\n'), 'passwd: files\nhosts: files dns\n');
});

test('the channel between run and the sandbox PID 1: lines both ways, anything else ignored', () => {
  assert.equal(forwardedSignal('SIGTERM'), 'SIGTERM');
  assert.equal(forwardedSignal('SIGKILL'), undefined, 'only the signals run passes on');
  assert.equal(forwardedSignal('SIGTERM '), undefined);
  assert.deepEqual(parseCommandEnded(commandEnded(7, null)), [7, null]);
  assert.deepEqual(parseCommandEnded(commandEnded(null, 'SIGTERM')), [null, 'SIGTERM']);
  for (const line of ['exit', 'exit 1000', 'signal SIGNOPE', 'signal sigterm', 'exit 7\nexit 8']) {
    assert.equal(parseCommandEnded(line), undefined, line);
  }
});
