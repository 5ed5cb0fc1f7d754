/** Markdown table and SVG chart generated from results.json (no browser, no dependencies). */
import type { GrpcMetric, GrpcMode, GrpcSection } from '../sections/grpc.js';
import { HANDSHAKE_CONCURRENCY } from '../sections/handshakes.js';
import { PEER_LABELS, PEER_MODES, type PeerMode } from '../sections/peers.js';
import type { BenchResults, Target } from './results.js';
import type { Mode } from './services.js';
import { figure, ratio, type Summary } from './stats.js';

function num(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US');
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** "median (min–max)", or "failed: why" for a cell that has no figure (issue 21 finding 8). */
function cell(s: Summary | undefined): string {
  if (!s) return 'n/a';
  if (s.failed !== undefined) return `failed: ${s.failed.replace(/\|/g, '\\|')}`;
  return s.values.length > 1 ? `${num(s.median)} (${num(s.min)}–${num(s.max)})` : num(s.median);
}

function r(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a';
}

const GRPC_ROWS: Array<[GrpcMetric, string]> = [
  ['echo1MBMBps', '1 MB unary echo, sequential (MB/s)'],
  ['seq100BPerS', '100 B unary echo, sequential (RPC/s)'],
  ['seqP50Us', '100 B sequential p50 (µs)'],
  ['seqP99Us', '100 B sequential p99 (µs)'],
  ['streamMBps', 'Server streaming, 64 KiB messages, default windows (MB/s)'],
  ['streamClientMajorGcsPer100MB', '… client major GCs per 100 MB'],
  ['streamServerMajorGcsPer100MB', '… server major GCs per 100 MB'],
  ['streamClientCpuUsPerMB', '… client CPU per MB (µs)'],
  ['streamServerCpuUsPerMB', '… server CPU per MB (µs)'],
  ['tunedStreamMBps', 'Server streaming, 64 KiB messages, 1 MiB windows (MB/s)'],
  ['tunedStreamClientMajorGcsPer100MB', '… client major GCs per 100 MB'],
  ['tunedStreamServerMajorGcsPer100MB', '… server major GCs per 100 MB'],
  ['tunedStreamClientCpuUsPerMB', '… client CPU per MB (µs)'],
  ['tunedStreamServerCpuUsPerMB', '… server CPU per MB (µs)'],
  ['newChannelMs', 'New channel + first RPC (ms)'],
  ['unary1BQps', 'Unary QPS, 1 B, 64 in flight'],
  ['unary1KiBQps', 'Unary QPS, 1 KiB, 64 in flight'],
  ['unaryClientCpuUs', 'Client CPU per unary call (µs)'],
  ['unaryServerCpuUs', 'Server CPU per unary call (µs)'],
];

/** How the peer columns were measured, with the versions that ran. */
function peersNote(g: GrpcSection): string {
  const version = (p: PeerMode) => {
    const v = g.peerVersions?.[p];
    return v === undefined ? '' : ` (${v}${p === 'core' ? ': C-core under Python' : ''})`;
  };
  const measureMs = g.settings.peerMeasureMs;
  return (
    `${PEER_LABELS.go}${version('go')} and ${PEER_LABELS.core}${version('core')} ` +
    'are each a client and a server of the interop peers (test/interop/peers), both ends run through ' +
    '`alts-emulator run` as two accounts of one trust root' +
    (measureMs === undefined ? '' : `, measuring ${measureMs} ms per workload`) +
    '. Their "default windows" are each library\'s own flow control (windows grown by BDP estimation), ' +
    '"1 MiB windows" fixed client windows of that size; major GCs are a V8 figure (n/a); the Python ' +
    'client and its GIL bound the C-core figures.'
  );
}

/** One line per reason a mode was not measured, naming every mode it stopped. */
function skippedLines(skipped: GrpcSection['skipped']): string[] {
  const byReason = new Map<string, string[]>();
  for (const [mode, why] of Object.entries(skipped)) {
    const label = PEER_LABELS[mode as PeerMode] ?? mode;
    byReason.set(why, [...(byReason.get(why) ?? []), label]);
  }
  return [...byReason].map(([why, modes]) => `${modes.join(' and ')} not measured: ${why}`);
}

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
      '**grpc-js end to end** (generated OtBooking service for unary, payload echoed; a Buffer server-streaming service; ' +
        `"1 MiB windows": the client's \`grpc-node.flow_control_window\` as createOtBookingClient sets it, the server's stays at grpc-js's 64 KiB)`,
      '',
      `| Metric | insecure | TLS 1.3 | ALTS | ALTS ÷ TLS | ALTS ÷ insecure | ${PEER_MODES.map((p) => PEER_LABELS[p]).join(' | ')} |`,
      `|---|---:|---:|---:|---:|---:|${PEER_MODES.map(() => '---:|').join('')}`,
    );
    for (const [metric, label] of GRPC_ROWS) {
      const get = (mode: GrpcMode) => g.modes[mode]?.[metric];
      lines.push(
        `| ${label} | ${cell(get('insecure'))} | ${cell(get('tls'))} | ${cell(get('alts'))} | ` +
          `${r(ratio(figure(get('alts')), figure(get('tls'))))} | ${r(ratio(figure(get('alts')), figure(get('insecure'))))} | ` +
          `${PEER_MODES.map((p) => cell(get(p))).join(' | ')} |`,
      );
    }
    // Results from before the peers were measured have no versions, and no note.
    if (g.peerVersions) lines.push('', peersNote(g));
    for (const line of skippedLines(g.skipped)) lines.push('', line);
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
          `${r(ratio(figure(get('alts')), figure(get('tls'))))} |`,
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
    const tls = figure(rec.stream.find((s) => s.transport === 'tls')?.mbPerS);
    for (const s of rec.stream) {
      lines.push(
        `| ${s.name} | ${cell(s.mbPerS)} | ${num(s.readerCpuUsPerMB)} | ${num(s.writerCpuUsPerMB)} | ${r(ratio(figure(s.mbPerS), tls))} |`,
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

/**
 * Chart geometry, in px. Text is not measured (no fonts here): its width is estimated with an
 * average character width wide enough for the sans-serif fonts of browsers and of ImageMagick, so
 * the canvas holds every line rather than cutting the longest off. Runs of text in two styles are
 * separate <text> elements placed by that estimate: not every renderer flows <tspan>s.
 */
const CHART = {
  margin: 16,
  font: 13,
  titleFont: 16,
  headingFont: 14,
  lineH: 20,
  rowH: 28,
  barH: 14,
  barW: 320,
  gap: 12,
  /** Length of an axis tick below the axis line, and the distance of its label below that. */
  tickLen: 4,
  tickLabelGap: 14,
  /** At most this many intervals on the ratio axis, so its labels keep apart. */
  maxTicks: 6,
  /** The target mark stops this short of its row's edges, so neighbouring rows' marks stay apart. */
  markInset: 3,
  /** The parity line reaches this far above the first bar, to be seen where a target sits on it. */
  parityOvershoot: 4,
} as const;
/** Lowers a baseline from a row's middle so that the text looks centred on the row. */
const BASELINE_SHIFT_EM = 0.35;
const AVG_CHAR_EM = 0.6;
const BOLD_CHAR_EM = 0.72;
const COLORS = {
  text: '#000',
  met: '#2e7d32',
  missed: '#c62828',
  muted: '#555',
  grid: '#e6e6e6',
  target: '#000',
  parity: '#1565c0',
} as const;
/** The ratio at which ALTS equals its comparator. */
const PARITY = 1;

/** A ratio's direction decides which way "better" points, so each direction gets its own panel. */
const PANELS = [
  { op: '>=', title: 'Higher is better', note: 'the bar should reach the black mark' },
  { op: '<=', title: 'Lower is better', note: 'the bar should stay short of the black mark' },
] as const;

function textWidth(text: string, size: number = CHART.font, em = AVG_CHAR_EM): number {
  return text.length * size * em;
}

/** A common axis from 0 for every panel: a step that doubles from 0.25× until it fits, a step of headroom. */
function ratioAxis(rows: readonly Target[]): { step: number; max: number } {
  const top = Math.max(PARITY, ...rows.flatMap((t) => [Number.isFinite(t.value) ? t.value : 0, t.bound]));
  let step = 0.25;
  while (top / step > CHART.maxTicks - 1) step *= 2;
  return { step, max: step * (Math.floor(top / step) + 1) };
}

/** Where the muted run of {@link boldThenMuted} starts, from the start of the bold one. */
function mutedOffset(bold: string, size: number): number {
  return textWidth(bold, size, BOLD_CHAR_EM) + CHART.gap;
}

/** A bold run, then a muted one after it: two <text>s, the second placed by the first's estimated width. */
function boldThenMuted(x: number, y: number, size: number, bold: string, boldFill: string, muted: string) {
  return [
    `<text x="${x}" y="${y}" font-size="${size}" font-weight="bold" fill="${boldFill}">${esc(bold)}</text>`,
    `<text x="${x + mutedOffset(bold, size)}" y="${y}" font-size="${size}" fill="${COLORS.muted}">${esc(muted)}</text>`,
  ];
}

const ratioText = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a');

/**
 * One panel per direction ("higher is better", "lower is better"): a horizontal bar per target
 * ratio on a common axis, the target as a black mark, 1× (parity) as a dashed line; green met,
 * red missed. Counts (errors) are listed in text below.
 */
export function renderSvg(res: BenchResults): string {
  const ratios = res.targets.filter((t) => !t.id.endsWith('errors'));
  const counts = res.targets.filter((t) => t.id.endsWith('errors'));
  const panels = PANELS.map((p) => ({ ...p, rows: ratios.filter((t) => t.op === p.op) })).filter(
    (p) => p.rows.length > 0,
  );
  const axis = ratioAxis(ratios);
  const m = res.machine;
  const title = `ALTS for grpc-js: ratios against the targets${res.quick ? ' (quick smoke run)' : ''}`;
  const subtitle = `${res.date.slice(0, 10)} · ${m.cores} × ${m.cpuModel} · Node ${m.node} · OpenSSL ${m.openssl} · grpc-js ${m.grpcJs} · medians of ${res.reps} runs · load ${res.load.start}–${res.load.max}`;
  const legend = [
    'Bars: the ratio named on the left. Black mark: its target. Dashed blue line: 1×, parity.',
    'Green: target met; red: missed. TLS: TLS 1.3 with TLS_AES_128_GCM_SHA256.',
  ];
  const valueNote = (t: Target) => `target ${t.op === '>=' ? '≥' : '≤'} ${String(t.bound)} · ${t.detail}`;
  const countLine = (t: Target) => `${t.label}: ${t.value} (${t.detail})`;

  const { margin, gap, barW, rowH, barH, lineH } = CHART;
  const barX = margin + Math.max(0, ...ratios.map((t) => textWidth(t.label))) + gap;
  const valueX = barX + barW + gap;
  const x = (v: number) =>
    Math.round((barX + (Math.min(Math.max(v, 0), axis.max) / axis.max) * barW) * 10) / 10;
  const width = Math.ceil(
    Math.max(
      valueX +
        Math.max(
          0,
          ...ratios.map((t) => mutedOffset(ratioText(t.value), CHART.font) + textWidth(valueNote(t))),
        ),
      margin + textWidth(title, CHART.titleFont, BOLD_CHAR_EM),
      margin + textWidth(subtitle),
      ...panels.map(
        (p) => margin + mutedOffset(p.title, CHART.headingFont) + textWidth(`— ${p.note}`, CHART.headingFont),
      ),
      ...[...legend, ...counts.map(countLine)].map((l) => margin + textWidth(l)),
    ) + margin,
  );

  const body: string[] = [
    `<text x="${margin}" y="${margin + CHART.titleFont}" font-size="${CHART.titleFont}" font-weight="bold">${esc(title)}</text>`,
    `<text x="${margin}" y="${margin + CHART.titleFont + lineH}" fill="${COLORS.muted}">${esc(subtitle)}</text>`,
  ];
  let y = margin + CHART.titleFont + lineH;
  for (const panel of panels) {
    y += 2 * lineH;
    body.push(...boldThenMuted(margin, y, CHART.headingFont, panel.title, COLORS.text, `— ${panel.note}`));
    const rowsTop = y + gap;
    const rowsBottom = rowsTop + panel.rows.length * rowH;
    for (let v = 0; v <= axis.max; v += axis.step) {
      const isParity = v === PARITY;
      body.push(
        `<line x1="${x(v)}" y1="${rowsTop}" x2="${x(v)}" y2="${rowsBottom}" stroke="${COLORS.grid}"/>`,
        `<line x1="${x(v)}" y1="${rowsBottom}" x2="${x(v)}" y2="${rowsBottom + CHART.tickLen}" stroke="${COLORS.muted}"/>`,
        `<text x="${x(v)}" y="${rowsBottom + CHART.tickLen + CHART.tickLabelGap}" text-anchor="middle"` +
          (isParity ? ` fill="${COLORS.parity}" font-weight="bold">` : ` fill="${COLORS.muted}">`) +
          `${Number(v.toFixed(2))}×</text>`,
      );
    }
    for (const [i, t] of panel.rows.entries()) {
      const top = rowsTop + i * rowH;
      const baseline = top + rowH / 2 + CHART.font * BASELINE_SHIFT_EM;
      const color = t.met ? COLORS.met : COLORS.missed;
      body.push(
        `<text x="${barX - gap}" y="${baseline}" text-anchor="end">${esc(t.label)}</text>`,
        `<rect x="${barX}" y="${top + (rowH - barH) / 2}" width="${(x(Number.isFinite(t.value) ? t.value : 0) - barX).toFixed(1)}" height="${barH}" fill="${color}" opacity="0.85"/>`,
        `<line x1="${x(t.bound)}" y1="${top + CHART.markInset}" x2="${x(t.bound)}" y2="${top + rowH - CHART.markInset}" stroke="${COLORS.target}" stroke-width="3"/>`,
        ...boldThenMuted(valueX, baseline, CHART.font, ratioText(t.value), color, valueNote(t)),
      );
    }
    body.push(
      `<line x1="${barX}" y1="${rowsBottom}" x2="${barX + barW}" y2="${rowsBottom}" stroke="${COLORS.muted}"/>`,
      `<line x1="${x(PARITY)}" y1="${rowsTop - CHART.parityOvershoot}" x2="${x(PARITY)}" y2="${rowsBottom}" stroke="${COLORS.parity}" stroke-width="2" stroke-dasharray="6 4"/>`,
    );
    y = rowsBottom + CHART.tickLen + CHART.tickLabelGap;
  }
  y += lineH / 2;
  for (const t of counts) {
    y += lineH;
    body.push(
      `<text x="${margin}" y="${y}" fill="${t.met ? COLORS.met : COLORS.missed}">${esc(countLine(t))}</text>`,
    );
  }
  for (const line of legend) {
    y += lineH;
    body.push(`<text x="${margin}" y="${y}" fill="${COLORS.muted}">${esc(line)}</text>`);
  }
  const height = y + margin;
  return `${[
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="${CHART.font}">`,
    '<title>ALTS for grpc-js: benchmark ratios against the targets</title>',
    '<rect width="100%" height="100%" fill="#ffffff"/>',
    ...body,
    '</svg>',
  ].join('\n')}\n`;
}
