import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  type Client,
  credentials,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { HealthImplementation, service as healthDefinition } from 'grpc-health-check';
import { AltsError } from '../errors.js';
import {
  HEALTH_MAX_CONNECTIONS,
  type HealthCheckServer,
  type HealthService,
  listenHealthCheck,
} from './health.js';

const BOOKING = 'otbooking.OtBookingService';
/** Every call here is answered on loopback at once; this only keeps a broken server from hanging. */
const CALL_DEADLINE_MS = 10_000;

type Unary = (
  request: object,
  options: object,
  done: (error: ServiceError | null, reply?: unknown) => void,
) => void;
type HealthClient = Client & { check: Unary; list: Unary; watch(request: object): NodeJS.ReadableStream };

const HealthClient = makeGenericClientConstructor(healthDefinition as ServiceDefinition, 'Health');

const unary = (method: Unary, request: object) =>
  new Promise<{ error: ServiceError | null; reply?: unknown }>((resolve) =>
    method(request, { deadline: Date.now() + CALL_DEADLINE_MS }, (error, reply) => resolve({ error, reply })),
  );

describe('listenHealthCheck: grpc.health.v1 Check alone on a plaintext port', () => {
  const health = new HealthImplementation({ '': 'NOT_SERVING', [BOOKING]: 'NOT_SERVING' });
  let server: HealthCheckServer;
  let client: HealthClient;

  before(async () => {
    server = await listenHealthCheck(health, '127.0.0.1:0');
    client = new HealthClient(
      `127.0.0.1:${server.port}`,
      credentials.createInsecure(),
    ) as unknown as HealthClient;
  });
  after(() => {
    client.close();
    server.shutdown();
  });

  it('answers Check with the statuses the application sets', async () => {
    assert.deepEqual((await unary(client.check.bind(client), { service: BOOKING })).reply, {
      status: 'NOT_SERVING',
    });
    health.setStatus(BOOKING, 'SERVING');
    assert.deepEqual((await unary(client.check.bind(client), { service: BOOKING })).reply, {
      status: 'SERVING',
    });
    const unknown = await unary(client.check.bind(client), { service: 'no.Such' });
    assert.equal(unknown.error?.code, status.NOT_FOUND);
  });

  it('answers List and Watch with UNIMPLEMENTED: nothing held open for an unauthenticated peer', async () => {
    assert.equal((await unary(client.list.bind(client), {})).error?.code, status.UNIMPLEMENTED);
    const watch = client.watch({ service: BOOKING });
    const error = await new Promise<ServiceError>((resolve) => watch.once('error', resolve));
    assert.equal(error.code, status.UNIMPLEMENTED);
  });

  it('answers any other service, the booking method included, with UNIMPLEMENTED', async () => {
    const passthrough = (b: Buffer) => b;
    const Booking = makeGenericClientConstructor(
      {
        getBookingInfo: {
          path: `/${BOOKING}/GetBookingInfo`,
          requestStream: false,
          responseStream: false,
          requestSerialize: passthrough,
          requestDeserialize: passthrough,
          responseSerialize: passthrough,
          responseDeserialize: passthrough,
        },
      },
      'OtBookingService',
    );
    const booking = new Booking(
      `127.0.0.1:${server.port}`,
      credentials.createInsecure(),
    ) as unknown as Client & {
      getBookingInfo: Unary;
    };
    try {
      const { error } = await unary(booking.getBookingInfo.bind(booking), Buffer.alloc(0));
      assert.equal(error?.code, status.UNIMPLEMENTED);
    } finally {
      booking.close();
    }
  });

  it(`closes connections past ${HEALTH_MAX_CONNECTIONS} at accept, serves again once they go`, async () => {
    const own = await listenHealthCheck(health, '127.0.0.1:0');
    const open = (): Promise<Socket> => {
      const socket = connect(own.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume(); // reads, so the server's close is seen
      return once(socket, 'connect').then(() => socket);
    };
    const held = await Promise.all(Array.from({ length: HEALTH_MAX_CONNECTIONS }, open));
    const fresh = new HealthClient(
      `127.0.0.1:${own.port}`,
      credentials.createInsecure(),
    ) as unknown as HealthClient;
    try {
      assert.ok(
        held.every((socket) => !socket.closed),
        'the first ones stay open',
      );
      const extra = await open();
      await once(extra, 'close');
      for (const socket of held) socket.destroy();
      await Promise.all(held.map((socket) => (socket.closed ? undefined : once(socket, 'close'))));
      assert.deepEqual((await unary(fresh.check.bind(fresh), { service: '' })).reply, {
        status: 'NOT_SERVING',
      });
    } finally {
      fresh.close();
      own.shutdown();
    }
  });

  it('refuses, INVALID_ARGUMENT, a health object that offers anything but Health/Check', async () => {
    const definition = healthDefinition as ServiceDefinition;
    const other: HealthService = {
      addToServer: (target) =>
        target.addService(
          { Check: { ...definition.Check, path: `/${BOOKING}/GetBookingInfo` } } as ServiceDefinition,
          { check: () => {} },
        ),
    };
    await assert.rejects(
      listenHealthCheck(other, '127.0.0.1:0'),
      (error: unknown) => AltsError.is(error) && error.code === 'INVALID_ARGUMENT',
    );
  });
});
