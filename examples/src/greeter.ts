// The Greeter service of protos/greeter.proto, loaded at run time with @grpc/proto-loader as many
// grpc-js applications do. Nothing in it knows about ALTS: the examples add ALTS around it.
import { fileURLToPath } from 'node:url';
import type {
  ChannelCredentials,
  Client,
  ClientOptions,
  ClientUnaryCall,
  GrpcObject,
  ServiceDefinition,
  ServiceError,
} from '@grpc/grpc-js';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** greeter.HelloRequest. */
export interface HelloRequest {
  name: string;
}
/** greeter.HelloReply. */
export interface HelloReply {
  message: string;
}

const protoFile = fileURLToPath(new URL('../protos/greeter.proto', import.meta.url));
const greeter = loadPackageDefinition(loadSync(protoFile)).greeter as GrpcObject;

/** A Greeter client: what proto-loader's client has, typed (proto-loader-gen-types writes these). */
export interface GreeterClient extends Client {
  sayHello(
    request: HelloRequest,
    callback: (error: ServiceError | null, reply?: HelloReply) => void,
  ): ClientUnaryCall;
}

/** The client constructor; `Greeter.service` is the service definition for `addService`. */
export const Greeter = greeter.Greeter as unknown as {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): GreeterClient;
  service: ServiceDefinition;
};
/** The name health checks use for it. */
export const GREETER_SERVICE_NAME = 'greeter.Greeter';
