/**
 * Benchmark server process: OtBooking + the streaming test service over insecure, TLS 1.3 or ALTS.
 * Started by the orchestrator with its ModeConfig as JSON in argv[2]; answers IPC commands.
 */
import { Server } from '@grpc/grpc-js';
import { type ModeConfig, startBenchServer } from '../lib/services.js';
import { majorGcs, serveWorker, settledRss } from '../lib/worker-child.js';

const config = JSON.parse(process.argv[2] ?? '{}') as ModeConfig;
const server = await startBenchServer(config, () => new Server());

serveWorker(
  {
    cpu: () => process.cpuUsage(),
    rss: () => settledRss(),
    majorGcs,
  },
  { port: server.port, mode: config.mode },
  () => server.shutdown(),
);
