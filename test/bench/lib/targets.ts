/** The targets, evaluated on one run's medians. */
import type { BenchResults, Target } from './results.js';
import { ratio } from './stats.js';

function target(
  id: string,
  label: string,
  value: number,
  op: '>=' | '<=',
  bound: number,
  detail: string,
): Target {
  const met = Number.isFinite(value) && (op === '>=' ? value >= bound : value <= bound);
  return { id, label, value, op, bound, met, detail };
}

const f = (v: number | undefined, unit = ''): string =>
  v === undefined || !Number.isFinite(v) ? 'n/a' : `${v >= 100 ? Math.round(v) : v}${unit}`;

export function evaluateTargets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const g = r.grpc?.modes;
  const alts = g?.alts;
  const tls = g?.tls;
  const ins = g?.insecure;
  if (alts && tls) {
    const q = (m: typeof alts) => m.unary1BQps?.median;
    out.push(
      target(
        'unary-qps-vs-tls',
        'ALTS ÷ TLS unary QPS (1 B, 64 in flight)',
        ratio(q(alts), q(tls)),
        '>=',
        1.0,
        `${f(q(alts))} vs ${f(q(tls))} QPS`,
      ),
    );
    const q1k = (m: typeof alts) => m.unary1KiBQps?.median;
    out.push(
      target(
        'unary-1k-qps-vs-tls',
        'ALTS ÷ TLS unary QPS (1 KiB, 64 in flight)',
        ratio(q1k(alts), q1k(tls)),
        '>=',
        1.0,
        `${f(q1k(alts))} vs ${f(q1k(tls))} QPS`,
      ),
    );
    const s = (m: typeof alts) => m.streamMBps?.median;
    out.push(
      target(
        'stream-vs-tls',
        'ALTS ÷ TLS server-streaming MB/s (64 KiB messages)',
        ratio(s(alts), s(tls)),
        '>=',
        1.0,
        `${f(s(alts))} vs ${f(s(tls))} MB/s`,
      ),
    );
    const p = (m: typeof alts) => m.seqP50Us?.median;
    out.push(
      target(
        'seq-p50-vs-tls',
        'ALTS ÷ TLS sequential unary p50 latency',
        ratio(p(alts), p(tls)),
        '<=',
        1.0,
        `${f(p(alts))} vs ${f(p(tls))} µs`,
      ),
    );
    const n = (m: typeof alts) => m.newChannelMs?.median;
    out.push(
      target(
        'new-channel-vs-tls',
        'ALTS ÷ TLS new channel + first RPC',
        ratio(n(alts), n(tls)),
        '<=',
        1.5,
        `${f(n(alts))} vs ${f(n(tls))} ms`,
      ),
    );
  }
  if (alts && ins) {
    const q = (m: typeof alts) => m.unary1BQps?.median;
    out.push(
      target(
        'unary-qps-vs-insecure',
        'ALTS ÷ insecure unary QPS (1 B, 64 in flight)',
        ratio(q(alts), q(ins)),
        '>=',
        0.8,
        `${f(q(alts))} vs ${f(q(ins))} QPS`,
      ),
    );
  }
  const rec = r.record;
  const micro16 = rec?.micro.find((m) => m.size === 16384);
  if (micro16) {
    out.push(
      target(
        'record-16k-vs-raw',
        'Record seal+open at 16 KiB ÷ raw per-frame AES-GCM',
        micro16.ratio,
        '>=',
        0.8,
        `${f(micro16.altsMBps)} vs ${f(micro16.rawMBps)} MB/s`,
      ),
    );
  }
  const tlsStream = rec?.stream.find((s) => s.transport === 'tls');
  const altsStream = rec?.stream.find((s) => s.transport === 'alts' && s.frameSize === 131072);
  if (tlsStream && altsStream) {
    out.push(
      target(
        'stream-tcp-vs-tls',
        'Protected stream (128 KiB frames) ÷ TLS over loopback TCP',
        ratio(altsStream.mbPerS.median, tlsStream.mbPerS.median),
        '>=',
        1.0,
        `${f(altsStream.mbPerS.median)} vs ${f(tlsStream.mbPerS.median)} MB/s`,
      ),
    );
  }
  const hs = r.handshakes?.modes.alts?.c300;
  if (hs) {
    out.push(
      target(
        'handshake-300-errors',
        '300 concurrent ALTS handshakes: errors',
        hs.errors,
        '<=',
        0,
        `${hs.completed} completed, p50 ${f(hs.p50Ms.median)} ms, p99 ${f(hs.p99Ms.median)} ms`,
      ),
    );
  }
  const mem = r.memory?.modes;
  if (mem?.alts && mem.tls) {
    const total = (m: NonNullable<typeof mem.alts>) => m.serverKiBPerConn.median + m.clientKiBPerConn.median;
    out.push(
      target(
        'rss-vs-tls',
        'ALTS ÷ TLS RSS per idle connection (server + client)',
        ratio(total(mem.alts), total(mem.tls)),
        '<=',
        1.5,
        `${f(total(mem.alts))} vs ${f(total(mem.tls))} KiB`,
      ),
    );
  }
  return out;
}
