// Any grpc-js service over ALTS: a service loaded at run time with @grpc/proto-loader (greeter.ts), served by
// createAltsServer and called through createAltsChannelCredentials, used like any grpc-js
// ChannelCredentials (with generated clients, makeGenericClientConstructor, or new Client).
//   npm run build && node examples/dist/generic-credentials.js
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { createAltsChannelCredentials, createAltsServer } from '@grpc-alts/alts';
import { Greeter, type HelloReply, type HelloRequest } from './greeter.js';
import { SERVER_ACCOUNT, startHandshakers, unary } from './handshakers.js';

const handshakers = await startHandshakers();

const server = createAltsServer({ handshakerServiceAddress: handshakers.server });
server.addService(Greeter.service, {
  sayHello(call: ServerUnaryCall<HelloRequest, HelloReply>, callback: sendUnaryData<HelloReply>) {
    callback(null, { message: `Hello, ${call.request.name}` });
  },
});
const port = await server.listen('127.0.0.1:0');

const credentials = createAltsChannelCredentials({
  handshakerServiceAddress: handshakers.client(),
  targetServiceAccounts: [SERVER_ACCOUNT],
});
const client = new Greeter(`127.0.0.1:${port}`, credentials);
const reply = await unary<HelloReply>((done) => client.sayHello({ name: 'ALTS' }, done));
console.log(reply.message);

client.close();
server.forceShutdown();
await handshakers.stop();
