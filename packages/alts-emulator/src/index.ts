/**
 * A local ALTS handshaker service, so that ALTS runs off Google Cloud: {@link startEmulator} in
 * process, or the `alts-emulator` program (`npx --package @grpc-alts/alts-emulator alts-emulator
 * --help`). Install: `npm install --save-dev @grpc-alts/alts-emulator`.
 *
 * @packageDocumentation
 */
export { type EmulatorOptions, type RunningEmulator, startEmulator } from './emulator.js';
export { disableServiceAccount, enableServiceAccount } from './state/iam.js';
