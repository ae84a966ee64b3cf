/**
 * The report of a multi-seed run (`train --local --seeds`, `<output>/report.html`): each
 * seed's curves overlaid — Acc@1, EMA Acc@1 and training loss per epoch, one line per seed —
 * then every seed's final figures and the summary (n, mean, sd, median, min, max) over the
 * seeds that succeeded, the numbers of the printed table and of seeds.json.
 */
import { formatSpread } from '../../api/seeds.js';
import type { SeedRunStatus, SeedSummary, Spread } from '../../api/status.js';
import { chart, escapeHtml, pageHead, type Series } from './html.js';
import type { EpochMetrics } from './metrics-log.js';

/** One seed's run: its status row and its metrics.jsonl (empty when it has none). */
export interface SeedCurves {
  run: SeedRunStatus;
  history: readonly EpochMetrics[];
}

/** Ten distinguishable colors (matplotlib's tab10); seeds beyond ten reuse them. */
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const FIGURES = [
  ['acc1', 'Acc@1'],
  ['acc5', 'Acc@5'],
  ['emaAcc1', 'EMA Acc@1'],
  ['emaAcc5', 'EMA Acc@5'],
] as const;

const cell = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(2));

function overlay(seeds: readonly SeedCurves[], pick: (r: EpochMetrics) => number | null): Series[] {
  return seeds.map((s, i) => ({
    label: `seed ${s.run.seed}`,
    color: PALETTE[i % PALETTE.length]!,
    points: s.history.flatMap((r) => {
      const v = pick(r);
      return v === null || !Number.isFinite(v) ? [] : [[r.epoch, v] as [number, number]];
    }),
  }));
}

export function renderSeedsReport(
  seeds: readonly SeedCurves[],
  summary: SeedSummary,
  info: { title: string; facts: Record<string, string | number> },
): string {
  const facts = {
    ...info.facts,
    seeds: seeds.map((s) => s.run.seed).join(', '),
    ...(summary.headline ? { [summary.emaAcc1 ? 'EMA Acc@1' : 'Acc@1']: summary.headline } : {}),
    ...(summary.failed > 0 ? { failed: `${summary.failed} (not in the summary)` } : {}),
  };
  const factRows = Object.entries(facts)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`)
    .join('');
  const charts = [
    chart(
      'Validation Acc@1 per seed',
      overlay(seeds, (r) => r.acc1),
      'Acc@1 (%)',
    ),
    chart(
      'EMA Acc@1 per seed',
      overlay(seeds, (r) => r.emaAcc1),
      'EMA Acc@1 (%)',
    ),
    chart(
      'Training loss per seed',
      overlay(seeds, (r) => r.trainLoss),
      'loss',
    ),
  ].join('');
  const head = `<tr><th>seed</th><th>phase</th>${FIGURES.map(([, h]) => `<th>${h}</th>`).join('')}<th>epochs</th><th>output</th></tr>`;
  const seedRows = seeds
    .map(({ run, history }) => {
      const figures =
        run.phase === 'Succeeded'
          ? FIGURES.map(([f]) => `<td>${cell(run.metrics?.[f])}</td>`).join('')
          : `<td colspan="${FIGURES.length}">${escapeHtml(run.message ?? '')}</td>`;
      return (
        `<tr><td>${run.seed}</td><td>${run.phase}</td>${figures}` +
        `<td>${history.length}</td><td>${escapeHtml(run.output ?? '')}</td></tr>`
      );
    })
    .join('');
  const stat = (name: string, pick: (sp: Spread) => number | undefined) =>
    `<tr><th>${name}</th>${FIGURES.map(([f]) => `<td>${cell(summary[f] ? pick(summary[f]) : undefined)}</td>`).join('')}</tr>`;
  const summaryRows = [
    `<tr><th>n</th>${FIGURES.map(([f]) => `<td>${summary[f]?.n ?? 0}</td>`).join('')}</tr>`,
    stat('mean', (sp) => sp.mean),
    stat('sd', (sp) => sp.sd),
    stat('median', (sp) => sp.median),
    stat('min', (sp) => sp.min),
    stat('max', (sp) => sp.max),
    `<tr><th>mean ± sd (n)</th>${FIGURES.map(([f]) => `<td>${summary[f] ? escapeHtml(formatSpread(summary[f])) : '–'}</td>`).join('')}</tr>`,
  ].join('');
  return `${pageHead(info.title)}<h1>${escapeHtml(info.title)}</h1>
<table>${factRows}</table>
<div class="charts">${charts}</div>
<h2>Seeds</h2>
<table>${head}${seedRows}</table>
<h2>Summary over the seeds that succeeded</h2>
<table><tr><th></th>${FIGURES.map(([, h]) => `<th>${h}</th>`).join('')}</tr>${summaryRows}</table>
</body></html>
`;
}
