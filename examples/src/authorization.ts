// Client authorization: the server admits only the service accounts it names, before any handler
// runs (grpc-java's ClientAuthInterceptor). A caller authenticated as another account gets
// PERMISSION_DENIED. For a check inside one handler instead, checkClientAuthorization(call, [...])
// returns the same verdict as a status object.
//   npm run build && node examples/dist/authorization.js
import { type ServerUnaryCall, type ServiceError, type sendUnaryData, status } from '@grpc/grpc-js';
import {
  clientAuthorizationInterceptor,
  createAltsChannelCredentials,
  createAltsServer,
} from '@grpc-alts/alts';
import { Greeter, type HelloReply, type HelloRequest } from './greeter.js';
import { CLIENT_ACCOUNT, SERVER_ACCOUNT, startHandshakers, unary } from './handshakers.js';

const OTHER_ACCOUNT = 'reporting@example-project.iam.gserviceaccount.com';
const handshakers = await startHandshakers([CLIENT_ACCOUNT, OTHER_ACCOUNT]);

const server = createAltsServer({
  handshakerServiceAddress: handshakers.server,
  interceptors: [clientAuthorizationInterceptor([CLIENT_ACCOUNT])],
});
server.addService(Greeter.service, {
  sayHello(_call: ServerUnaryCall<HelloRequest, HelloReply>, callback: sendUnaryData<HelloReply>) {
    callback(null, { message: 'Hello' });
  },
});
const port = await server.listen('127.0.0.1:0');

for (const account of [CLIENT_ACCOUNT, OTHER_ACCOUNT]) {
  const client = new Greeter(
    `127.0.0.1:${port}`,
    createAltsChannelCredentials({
      handshakerServiceAddress: handshakers.client(account),
      targetServiceAccounts: [SERVER_ACCOUNT],
    }),
  );
  try {
    const reply = await unary<HelloReply>((done) => client.sayHello({ name: account }, done));
    console.log(`${account}: ${reply.message}`);
  } catch (error) {
    const { code, details } = error as ServiceError;
    console.log(`${account}: ${status[code]} (${details})`);
  } finally {
    client.close();
  }
}

server.forceShutdown();
await handshakers.stop();
