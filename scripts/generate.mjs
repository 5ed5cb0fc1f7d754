// Runs buf.gen.yaml once per package that owns generated code, so each package carries only
// its own protos. Uses the @bufbuild/buf npm package: no other download.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const targets = [
  { path: 'proto/grpc/gcp', output: 'packages/handshaker-proto' },
  { path: 'proto/otbooking', output: 'packages/ot-booking' },
];
for (const { path, output } of targets) {
  execFileSync('npx', ['--no-install', 'buf', 'generate', '--path', path, '--output', output], {
    cwd: root,
    stdio: 'inherit',
  });
}
