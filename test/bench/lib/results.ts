/** The shape of docs/bench/results.json. */
import type { GrpcSection } from '../sections/grpc.js';
import type { HandshakeSection } from '../sections/handshakes.js';
import type { MemorySection } from '../sections/memory.js';
import type { RecordSection } from '../sections/record.js';
import type { MachineInfo } from './machine.js';

export interface Target {
  id: string;
  label: string;
  /** The measured ratio (or count, for errors). */
  value: number;
  /** `>=` value ≥ bound, `<=` value ≤ bound. */
  op: '>=' | '<=';
  bound: number;
  met: boolean;
  /** The raw figures behind the ratio. */
  detail: string;
}

export interface BenchResults {
  schema: 1;
  date: string;
  command: string;
  quick: boolean;
  durationS: number;
  machine: MachineInfo;
  /** 1-minute load average at the start and end, and its max sampled during the run. */
  load: { start: number; end: number; max: number };
  reps: number;
  record?: RecordSection;
  handshakes?: HandshakeSection;
  grpc?: GrpcSection;
  memory?: MemorySection;
  targets: Target[];
  notes: string[];
}
