import type { EpochMetrics } from './metrics-log.js';

/** A self-contained HTML page (inline SVG, no scripts) with the run's training curves. */
export interface ReportInfo {
  title: string;
  /** Short facts shown in a table: model, workers, batch, epochs, … */
  facts: Record<string, string | number>;
}

export interface Series {
  label: string;
  color: string;
  points: Array<[number, number]>;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

/** A percentage, or a dash where it was not measured (rows of older runs). */
function pct(v: number | null | undefined): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(2) : '–';
}

export function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1000 || a < 0.01 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

export function chart(title: string, series: Series[], yLabel: string): string {
  const W = 460;
  const H = 260;
  const m = { l: 56, r: 12, t: 28, b: 36 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const grid = niceTicks(y0, y1)
    .map(
      (t) =>
        `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" class="grid"/>` +
        `<text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`,
    )
    .join('');
  const xt = niceTicks(x0, x1, 6)
    .filter((t) => Number.isInteger(t))
    .map(
      (t) => `<text x="${sx(t).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${t}</text>`,
    )
    .join('');
  const paths = series
    .filter((s) => s.points.length > 0)
    .map((s) => {
      const d = s.points
        .map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
        .join('');
      const dots = s.points
        .map(
          ([x, y]) =>
            `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`,
        )
        .join('');
      return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>${dots}`;
    })
    .join('');
  // Entries share the width (many seeds get narrower slots).
  const slot = Math.min(120, (W - m.l - m.r - 8) / Math.max(1, series.length));
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${(m.l + 8 + i * slot).toFixed(1)}" y="${m.t - 18}" width="10" height="10" fill="${s.color}"/>` +
        `<text x="${(m.l + 22 + i * slot).toFixed(1)}" y="${m.t - 9}">${escapeHtml(s.label)}</text>`,
    )
    .join('');
  return (
    `<figure><figcaption>${escapeHtml(title)}</figcaption>` +
    `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}">` +
    `${grid}${xt}<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" class="axis"/>` +
    `<text x="${(W + m.l) / 2}" y="${H - 4}" text-anchor="middle">epoch</text>` +
    `<text x="12" y="${(H - m.b + m.t) / 2}" transform="rotate(-90 12 ${(H - m.b + m.t) / 2})" text-anchor="middle">${escapeHtml(yLabel)}</text>` +
    `${paths}${legend}</svg></figure>`
  );
}

export function renderReport(rows: readonly EpochMetrics[], info: ReportInfo): string {
  const pts = (f: (r: EpochMetrics) => number | null): Array<[number, number]> =>
    rows.flatMap((r) => {
      const v = f(r);
      return v === null || !Number.isFinite(v) ? [] : [[r.epoch, v] as [number, number]];
    });
  const last = rows.at(-1);
  const best = (f: (r: EpochMetrics) => number | null) =>
    rows.reduce((b, r) => Math.max(b, f(r) ?? -Infinity), -Infinity);
  const summary: Record<string, string | number> = {
    ...info.facts,
    epochs: rows.length,
    ...(last
      ? {
          'final Acc@1': `${last.acc1.toFixed(2)}%`,
          'final EMA Acc@1': last.emaAcc1 === null ? 'n/a' : `${last.emaAcc1.toFixed(2)}%`,
          'best Acc@1': `${best((r) => r.acc1).toFixed(2)}%`,
          'best EMA Acc@1': last.emaAcc1 === null ? 'n/a' : `${best((r) => r.emaAcc1).toFixed(2)}%`,
        }
      : {}),
  };
  const factRows = Object.entries(summary)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`)
    .join('');
  const epochRows = rows
    .map(
      (r) =>
        `<tr><td>${r.epoch}</td><td>${fmt(r.lr)}</td><td>${r.trainLoss.toFixed(4)}</td>` +
        `<td>${pct(r.trainAcc1)}</td><td>${pct(r.trainAcc5)}</td>` +
        `<td>${r.acc1.toFixed(2)}</td><td>${r.acc5.toFixed(2)}</td>` +
        `<td>${r.emaAcc1?.toFixed(2) ?? '–'}</td><td>${r.emaAcc5?.toFixed(2) ?? '–'}</td>` +
        `<td>${r.imagesPerSec.toFixed(1)}</td><td>${r.seconds.toFixed(1)}</td>` +
        `<td>${r.evalBiased ? 'padded' : ''}</td></tr>`,
    )
    .join('');
  const charts = [
    chart(
      'Training loss',
      [{ label: 'loss', color: '#d62728', points: pts((r) => r.trainLoss) }],
      'loss',
    ),
    chart('Learning rate', [{ label: 'lr', color: '#1f77b4', points: pts((r) => r.lr) }], 'lr'),
    chart(
      'Validation Acc@1',
      [
        { label: 'model', color: '#2ca02c', points: pts((r) => r.acc1) },
        { label: 'EMA', color: '#9467bd', points: pts((r) => r.emaAcc1) },
      ],
      'Acc@1 (%)',
    ),
    chart(
      'Throughput',
      [{ label: 'images/s', color: '#ff7f0e', points: pts((r) => r.imagesPerSec) }],
      'images/s',
    ),
  ].join('');
  return `${pageHead(info.title)}<h1>${escapeHtml(info.title)}</h1>
<table>${factRows}</table>
<div class="charts">${charts}</div>
<h2>Epochs</h2>
<table><tr><th>epoch</th><th>lr</th><th>loss</th><th>train Acc@1</th><th>train Acc@5</th><th>Acc@1</th><th>Acc@5</th><th>EMA Acc@1</th><th>EMA Acc@5</th><th>img/s</th><th>s</th><th>eval</th></tr>${epochRows}</table>
</body></html>
`;
}

/** The document head and styles every report shares (up to and including <body>). */
export function pageHead(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}table{border-collapse:collapse;margin:12px 0}
th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}th{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-weight:600}
svg text{font-size:11px;fill:#444}.grid{stroke:#eee}.axis{stroke:#888}
</style></head><body>
`;
}
