// Health checking with grpc-health-check, the grpc.health.v1 implementation grpc-js users use.
// ALTS peers get Check, Watch and List on the ALTS port. A load balancer or orchestrator that
// cannot speak ALTS gets listenHealthCheck's plaintext port: a separate grpc-js server that
// serves Check and nothing else, so the application's service can never be reached through it.
//   npm run build && node examples/dist/health.js
import {
  type ChannelCredentials,
  type Client,
  credentials,
  makeGenericClientConstructor,
  type ServerUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { createAltsChannelCredentials, createAltsServer, listenHealthCheck } from '@grpc-alts/alts';
import { HealthImplementation, service as healthService } from 'grpc-health-check';
import { GREETER_SERVICE_NAME, Greeter, type HelloReply, type HelloRequest } from './greeter.js';
import { SERVER_ACCOUNT, startHandshakers, unary } from './handshakers.js';

const handshakers = await startHandshakers();

// '' is the whole server, by the health protocol's convention.
const health = new HealthImplementation({ '': 'NOT_SERVING', [GREETER_SERVICE_NAME]: 'NOT_SERVING' });
const server = createAltsServer({ handshakerServiceAddress: handshakers.server });
server.addService(Greeter.service, {
  sayHello(_call: ServerUnaryCall<HelloRequest, HelloReply>, callback: sendUnaryData<HelloReply>) {
    callback(null, { message: 'Hello' });
  },
});
health.addToServer(server);
const probe = await listenHealthCheck(health, '127.0.0.1:0');
const port = await server.listen('127.0.0.1:0');
health.setStatus('', 'SERVING');
health.setStatus(GREETER_SERVICE_NAME, 'SERVING');

// What a load balancer does: a plaintext Check on the health port.
type HealthClient = Client & {
  check(
    request: { service: string },
    callback: (error: ServiceError | null, reply?: { status: string }) => void,
  ): void;
};
const Health = makeGenericClientConstructor(healthService as ServiceDefinition, 'Health') as unknown as new (
  address: string,
  credentials: ChannelCredentials,
) => HealthClient;
const plaintext = new Health(`127.0.0.1:${probe.port}`, credentials.createInsecure());
const check = async (client: HealthClient, service: string) =>
  (await unary<{ status: string }>((done) => client.check({ service }, done))).status;
console.log(`plaintext health port, Check(''): ${await check(plaintext, '')}`);

// An ALTS peer checks on the ALTS port.
const alts = new Health(
  `127.0.0.1:${port}`,
  createAltsChannelCredentials({
    handshakerServiceAddress: handshakers.client(),
    targetServiceAccounts: [SERVER_ACCOUNT],
  }),
);
console.log(`ALTS port, Check('${GREETER_SERVICE_NAME}'): ${await check(alts, GREETER_SERVICE_NAME)}`);

// The application's service is not on the health port.
const greeterOnProbe = new Greeter(`127.0.0.1:${probe.port}`, credentials.createInsecure());
const refused = await unary((done) => greeterOnProbe.sayHello({ name: '' }, done)).catch(
  (e: ServiceError) => e,
);
console.log(`Greeter on the health port: ${status[(refused as ServiceError).code]}`);

// Going down: NOT_SERVING first, so balancers stop sending traffic, then shut down.
health.setStatus('', 'NOT_SERVING');
console.log(`plaintext health port while stopping, Check(''): ${await check(plaintext, '')}`);

for (const client of [plaintext, alts, greeterOnProbe] as Client[]) client.close();
server.forceShutdown();
probe.shutdown();
await handshakers.stop();
