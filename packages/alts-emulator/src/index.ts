export { type EmulatorOptions, type RunningEmulator, startEmulator } from './emulator.js';
export { disableServiceAccount, enableServiceAccount } from './iam.js';
