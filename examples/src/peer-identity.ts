// Reading the peer's identity. The server reads it per call with getAltsContext(call) (also in
// interceptors and streaming handlers); the client hears it once per connection through
// onHandshake, whatever the number of calls on that connection.
//   npm run build && node examples/dist/peer-identity.js
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { createAltsChannelCredentials, createAltsServer, getAltsContext } from '@grpc-alts/alts';
import { Greeter, type HelloReply, type HelloRequest } from './greeter.js';
import { SERVER_ACCOUNT, startHandshakers, unary } from './handshakers.js';

const handshakers = await startHandshakers();

const server = createAltsServer({ handshakerServiceAddress: handshakers.server });
server.addService(Greeter.service, {
  sayHello(call: ServerUnaryCall<HelloRequest, HelloReply>, callback: sendUnaryData<HelloReply>) {
    // Undefined only for a call that did not come over ALTS (not possible on an AltsServer).
    const peer = getAltsContext(call);
    console.log(`server: call from ${peer?.peerServiceAccount} (${peer?.securityLevel})`);
    callback(null, { message: `Hello, ${peer?.peerServiceAccount}` });
  },
});
const port = await server.listen('127.0.0.1:0');

const credentials = createAltsChannelCredentials({
  handshakerServiceAddress: handshakers.client(),
  targetServiceAccounts: [SERVER_ACCOUNT],
  // Also given: the channel target, e.g. to tell connections to several servers apart.
  onHandshake: (context) =>
    console.log(`client: connected, the server runs as ${context.peerServiceAccount}`),
});
const client = new Greeter(`127.0.0.1:${port}`, credentials);
for (let i = 0; i < 2; i++) {
  const reply = await unary<HelloReply>((done) => client.sayHello({ name: '' }, done));
  console.log(`client: ${reply.message}`);
}

client.close();
server.forceShutdown();
await handshakers.stop();
