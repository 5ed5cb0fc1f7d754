/** Markdown table and SVG chart generated from results.json (no browser, no dependencies). */
import type { GrpcMetric } from '../sections/grpc.js';
import { HANDSHAKE_CONCURRENCY } from '../sections/handshakes.js';
import type { BenchResults } from './results.js';
import type { Mode } from './services.js';
import { ratio, type Summary } from './stats.js';

function num(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US');
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** "median (min–max)". */
function cell(s: Summary | undefined): string {
  if (!s) return 'n/a';
  return s.values.length > 1 ? `${num(s.median)} (${num(s.min)}–${num(s.max)})` : num(s.median);
}

function r(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a';
}

const GRPC_ROWS: Array<[GrpcMetric, string]> = [
  ['unary1BQps', 'Unary QPS, 1 B, 64 in flight'],
  ['unary1KiBQps', 'Unary QPS, 1 KiB, 64 in flight'],
  ['seqP50Us', 'Sequential unary p50 (µs)'],
  ['seqP99Us', 'Sequential unary p99 (µs)'],
  ['streamMBps', 'Server streaming, 64 KiB messages (MB/s)'],
  ['newChannelMs', 'New channel + first RPC (ms)'],
  ['unaryClientCpuUs', 'Client CPU per unary call (µs)'],
  ['unaryServerCpuUs', 'Server CPU per unary call (µs)'],
  ['streamClientCpuUsPerMB', 'Client CPU per streamed MB (µs)'],
  ['streamServerCpuUsPerMB', 'Server CPU per streamed MB (µs)'],
];

export function renderMarkdown(res: BenchResults): string {
  const m = res.machine;
  const lines: string[] = [];
  lines.push(
    `Measured ${res.date.slice(0, 10)} on ${m.cores} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; ` +
      `Node ${m.node}, OpenSSL ${m.openssl}, @grpc/grpc-js ${m.grpcJs}. Client and server in separate ` +
      `processes on one machine (loopback). Each cell: median of ${res.reps} runs, (min–max) in brackets. ` +
      `Load average ${res.load.start} at start, ${res.load.end} at end (max ${res.load.max}).` +
      (res.quick ? ' **Quick smoke run: figures are not meaningful.**' : ''),
  );
  lines.push('');
  if (res.targets.length > 0) {
    lines.push('**Targets**', '', '| Target | Result | Bound | Met | Figures |', '|---|---:|---:|:---:|---|');
    for (const t of res.targets) {
      const value = t.id.endsWith('errors') ? String(t.value) : r(t.value);
      lines.push(
        `| ${t.label} | ${value} | ${t.op} ${t.bound} | ${t.met ? 'yes' : '**no**'} | ${t.detail} |`,
      );
    }
    lines.push('');
  }
  const g = res.grpc;
  if (g) {
    lines.push(
      '**grpc-js end to end** (generated OtBooking service for unary, payload echoed; a Buffer server-streaming service)',
      '',
      '| Metric | insecure | TLS 1.3 | ALTS | ALTS ÷ TLS | ALTS ÷ insecure |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const [metric, label] of GRPC_ROWS) {
      const get = (mode: Mode) => g.modes[mode]?.[metric];
      lines.push(
        `| ${label} | ${cell(get('insecure'))} | ${cell(get('tls'))} | ${cell(get('alts'))} | ` +
          `${r(ratio(get('alts')?.median, get('tls')?.median))} | ${r(ratio(get('alts')?.median, get('insecure')?.median))} |`,
      );
    }
    for (const [mode, why] of Object.entries(g.skipped)) lines.push('', `${mode} skipped: ${why}`);
    lines.push('');
  }
  const h = res.handshakes;
  if (h) {
    lines.push(
      '**Handshakes** (new channel to READY: TCP + handshake + HTTP/2 settings; ALTS against two emulated VMs)',
      '',
      '| Concurrency | ALTS /s | ALTS p50 ms | ALTS p99 ms | ALTS errors | TLS /s | TLS p50 ms | TLS p99 ms | TLS errors |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const c of HANDSHAKE_CONCURRENCY) {
      const a = h.modes.alts?.[`c${c}`];
      const t = h.modes.tls?.[`c${c}`];
      lines.push(
        `| ${c} | ${cell(a?.perS)} | ${cell(a?.p50Ms)} | ${cell(a?.p99Ms)} | ${a?.errors ?? 'n/a'} | ` +
          `${cell(t?.perS)} | ${cell(t?.p50Ms)} | ${cell(t?.p99Ms)} | ${t?.errors ?? 'n/a'} |`,
      );
    }
    lines.push('');
  }
  const mem = res.memory;
  if (mem) {
    lines.push(
      `**Memory** (RSS growth per idle connection over ${mem.settings.connections} connections, after GC, KiB)`,
      '',
      '| Process | insecure | TLS 1.3 | ALTS | ALTS ÷ TLS |',
      '|---|---:|---:|---:|---:|',
    );
    for (const [key, label] of [
      ['serverKiBPerConn', 'Server'],
      ['clientKiBPerConn', 'Client'],
    ] as const) {
      const get = (mode: Mode) => mem.modes[mode]?.[key];
      lines.push(
        `| ${label} | ${cell(get('insecure'))} | ${cell(get('tls'))} | ${cell(get('alts'))} | ` +
          `${r(ratio(get('alts')?.median, get('tls')?.median))} |`,
      );
    }
    lines.push('');
  }
  const rec = res.record;
  if (rec) {
    lines.push(
      '**Record layer micro** (one process; µs per frame; MB/s of one seal + one open averaged; from `record-bench`)',
      '',
      '| Frame payload | ALTS seal µs | ALTS open µs | raw seal µs | raw open µs | ALTS MB/s | raw MB/s | ALTS ÷ raw |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const m of rec.micro) {
      lines.push(
        `| ${bytes(m.size)} | ${num(m.altsSealUs)} | ${num(m.altsOpenUs)} | ${num(m.rawSealUs)} | ${num(m.rawOpenUs)} | ` +
          `${num(m.altsMBps)} | ${num(m.rawMBps)} | ${r(m.ratio)} |`,
      );
    }
    lines.push(
      '',
      '**Byte stream over loopback TCP** (writer and reader in separate processes, 64 KiB writes; from `record-bench`)',
      '',
      '| Transport | MB/s | reader CPU µs/MB | writer CPU µs/MB | ÷ TLS |',
      '|---|---:|---:|---:|---:|',
    );
    const tls = rec.stream.find((s) => s.transport === 'tls')?.mbPerS.median;
    for (const s of rec.stream) {
      lines.push(
        `| ${s.name} | ${cell(s.mbPerS)} | ${num(s.readerCpuUsPerMB)} | ${num(s.writerCpuUsPerMB)} | ${r(ratio(s.mbPerS.median, tls))} |`,
      );
    }
    lines.push('');
  }
  if (res.notes.length > 0) {
    lines.push(...res.notes.map((n) => `- ${n}`), '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

function bytes(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= 1024 * 1024) return `${n / 1024 / 1024} MiB`;
  if (n >= 1024) return `${n / 1024} KiB`;
  return `${n} B`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A horizontal bar per target: the measured ratio, with the bound as a tick; green met, red missed. */
export function renderSvg(res: BenchResults): string {
  const rows = res.targets.filter((t) => !t.id.endsWith('errors'));
  const errorRows = res.targets.filter((t) => t.id.endsWith('errors'));
  const width = 860;
  const left = 400;
  const barMax = 360;
  const rowH = 30;
  const top = 64;
  const maxValue = Math.max(
    2,
    ...rows.map((t) => (Number.isFinite(t.value) ? t.value : 0)),
    ...rows.map((t) => t.bound),
  );
  const scale = barMax / maxValue;
  const height = top + rows.length * rowH + 40 + errorRows.length * 20 + 30;
  const m = res.machine;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<title>ALTS for grpc-js: benchmark ratios against the targets</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">ALTS for grpc-js: ratios against the targets${res.quick ? ' (quick smoke run)' : ''}</text>`,
    `<text x="16" y="44" fill="#555">${esc(`${res.date.slice(0, 10)} · ${m.cores} × ${m.cpuModel} · Node ${m.node} · OpenSSL ${m.openssl} · grpc-js ${m.grpcJs} · medians of ${res.reps} runs · load ${res.load.start}–${res.load.max}`)}</text>`,
  );
  for (const [i, t] of rows.entries()) {
    const y = top + i * rowH;
    const v = Number.isFinite(t.value) ? t.value : 0;
    const color = t.met ? '#2e7d32' : '#c62828';
    out.push(
      `<text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(t.label)}</text>`,
      `<rect x="${left}" y="${y + 6}" width="${(v * scale).toFixed(1)}" height="16" fill="${color}" opacity="0.85"/>`,
      `<line x1="${(left + t.bound * scale).toFixed(1)}" y1="${y + 2}" x2="${(left + t.bound * scale).toFixed(1)}" y2="${y + 26}" stroke="#000" stroke-width="2"/>`,
      `<text x="${(left + v * scale + 6).toFixed(1)}" y="${y + 18}">${Number.isFinite(t.value) ? `${t.value.toFixed(2)}×` : 'n/a'} (${t.op === '>=' ? '≥' : '≤'} ${t.bound})</text>`,
    );
  }
  let y = top + rows.length * rowH + 16;
  out.push(
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${y - 10}" stroke="#999"/>`,
    `<text x="${left}" y="${y + 4}" fill="#555">black tick = bound; green = met, red = missed; ÷ TLS: TLS 1.3 TLS_AES_128_GCM_SHA256</text>`,
  );
  y += 24;
  for (const t of errorRows) {
    out.push(
      `<text x="16" y="${y}" fill="${t.met ? '#2e7d32' : '#c62828'}">${esc(`${t.label}: ${t.value} (${t.detail})`)}</text>`,
    );
    y += 20;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
