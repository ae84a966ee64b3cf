/**
 * The table `ringmaster train --seeds` prints: each seed's final Acc@1, Acc@5, EMA Acc@1 and
 * EMA Acc@5 (or why it failed), then n, mean, sd, median, min and max over the seeds that
 * succeeded.
 */
import { formatSpread } from '../../api/seeds.js';
import type { SeedRunStatus, SeedSummary, Spread } from '../../api/status.js';

const FIGURES = ['acc1', 'acc5', 'emaAcc1', 'emaAcc5'] as const;
const W = 10;
const HEAD = ['Acc@1', 'Acc@5', 'EMA Acc@1', 'EMA Acc@5'].map((h) => h.padStart(W)).join('');
const cell = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(2)).padStart(W);

export function formatSeedTable(runs: readonly SeedRunStatus[], s: SeedSummary): string {
  const rows: string[] = [`   seed │${HEAD}`, `────────┼${'─'.repeat(HEAD.length)}`];
  for (const r of runs) {
    const label = String(r.seed).padStart(7);
    if (r.phase === 'Succeeded') {
      rows.push(`${label} │${FIGURES.map((f) => cell(r.metrics?.[f])).join('')}`);
    } else {
      rows.push(`${label} │  ${r.phase}${r.message ? `: ${r.message}` : ''}`);
    }
  }
  rows.push(`────────┼${'─'.repeat(HEAD.length)}`);
  const stat = (name: string, pick: (sp: Spread) => number | undefined) =>
    `${name.padStart(7)} │${FIGURES.map((f) => cell(s[f] ? pick(s[f]) : undefined)).join('')}`;
  rows.push(`${'n'.padStart(7)} │${FIGURES.map((f) => String(s[f]?.n ?? 0).padStart(W)).join('')}`);
  rows.push(stat('mean', (sp) => sp.mean));
  rows.push(stat('sd', (sp) => sp.sd));
  rows.push(stat('median', (sp) => sp.median));
  rows.push(stat('min', (sp) => sp.min));
  rows.push(stat('max', (sp) => sp.max));
  const lines = [...rows, ''];
  if (s.emaAcc1) lines.push(`EMA Acc@1 ${formatSpread(s.emaAcc1)}`);
  if (s.acc1) lines.push(`Acc@1     ${formatSpread(s.acc1)}`);
  if (s.failed > 0) lines.push(`${s.failed} seed(s) failed and are not in the figures`);
  return lines.join('\n') + '\n';
}
