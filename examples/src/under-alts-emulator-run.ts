// A service with no handshaker address at all, as it runs on Google Cloud: under
// `alts-emulator run` (Linux) it finds an emulator where a Compute Engine VM has its metadata
// server, so the same code runs unchanged on a laptop or in CI. One emulator holds both identities
// here: the server's (--service-account) and the client's (--client-service-account).
//   npm run build
//   npx alts-emulator run --service-account backend@example-project.iam.gserviceaccount.com \
//     --client-service-account frontend@example-project.iam.gserviceaccount.com \
//     -- node examples/dist/under-alts-emulator-run.js
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { createAltsChannelCredentials, createAltsServer, getAltsContext } from '@grpc-alts/alts';
import { Greeter, type HelloReply, type HelloRequest } from './greeter.js';
import { SERVER_ACCOUNT, unary } from './handshakers.js';

const server = createAltsServer();
server.addService(Greeter.service, {
  sayHello(call: ServerUnaryCall<HelloRequest, HelloReply>, callback: sendUnaryData<HelloReply>) {
    callback(null, { message: `Hello, ${getAltsContext(call)?.peerServiceAccount}` });
  },
});
const port = await server.listen('127.0.0.1:0');

const client = new Greeter(
  `127.0.0.1:${port}`,
  createAltsChannelCredentials({ targetServiceAccounts: [SERVER_ACCOUNT] }),
);
const reply = await unary<HelloReply>((done) => client.sayHello({ name: '' }, done));
console.log(reply.message);

client.close();
server.forceShutdown();
