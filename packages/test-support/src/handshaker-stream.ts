// Talking to a handshaker service directly, as tests do: one DoHandshake stream in lock-step, and
// the service with raw bytes for garbage on the wire.
//
// The library has its own stream (packages/alts/src/handshake/handshaker-client.ts) with every check
// of docs/protocol.md §3; this one has none on purpose: the emulator's tests must see exactly what
// the service answers (the emulator shares no code with the library), and test/hardening's raw
// client is a second ALTS implementation built only on the public handshaker contract.
import type { ClientDuplexStream, ServiceDefinition, StatusObject } from '@grpc/grpc-js';
import {
  type HandshakerReq,
  type HandshakerResp,
  type HandshakerServiceClient,
  HandshakerServiceService,
} from '@grpc-alts/handshaker-proto';

/** One DoHandshake stream driven in lock-step: send() resolves with the matching response. */
export class RawHandshakerStream {
  readonly #call: ClientDuplexStream<HandshakerReq, HandshakerResp>;
  readonly #responses: HandshakerResp[] = [];
  readonly #waiters: Array<{ resolve: (r: HandshakerResp) => void; reject: (e: Error) => void }> = [];
  #ended: StatusObject | undefined;
  /** The RPC's final status. */
  readonly status: Promise<StatusObject>;

  /** `deadlineMs`: the call's deadline from now (default none). */
  constructor(client: HandshakerServiceClient, options: { deadlineMs?: number } = {}) {
    this.#call = client.doHandshake(
      options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs },
    );
    this.#call.on('data', (r: HandshakerResp) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(r);
      else this.#responses.push(r);
    });
    this.#call.on('error', () => undefined); // the status carries it
    this.status = new Promise((resolve) => {
      this.#call.on('status', (s: StatusObject) => {
        this.#ended = s;
        for (const w of this.#waiters.splice(0)) w.reject(new Error(`stream ended: ${s.code} ${s.details}`));
        resolve(s);
      });
    });
  }

  send(req: HandshakerReq): Promise<HandshakerResp> {
    this.#call.write(req);
    const ready = this.#responses.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#ended)
      return Promise.reject(new Error(`stream ended: ${this.#ended.code} ${this.#ended.details}`));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Responses nobody asked for (a service must send none). */
  get unsolicited(): number {
    return this.#responses.length;
  }

  cancel(): void {
    this.#call.cancel();
  }

  end(): void {
    this.#call.end();
  }

  /** Half-closes and cancels: done with the stream, whatever state it is in. */
  close(): void {
    this.end();
    this.cancel();
  }
}

const raw = (bytes: Buffer): Buffer => bytes;

/** DoHandshake with the messages as raw bytes: for sending or answering garbage protobuf. */
export const rawHandshakerService = {
  doHandshake: {
    ...HandshakerServiceService.doHandshake,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
} satisfies ServiceDefinition;
