/**
 * The seed's ablation table from multi-seed results: one row per variant in ladder order,
 * Acc@1 and Acc@5 as mean ± sd over its seeds, and against the row before the change in
 * Acc@1 with Welch's t, its df and a 95% interval of the difference (common/stats.ts).
 */
import { mean, sampleSd, welch, welchInterval } from '../../common/stats.js';

export interface StudyInput {
  name: string;
  acc1: readonly number[];
  acc5: readonly number[];
}

export interface Change {
  diff: number;
  t: number | null;
  df: number | null;
  lo: number | null;
  hi: number | null;
}

export interface StudyRow {
  name: string;
  n: number;
  acc1: { mean: number; sd: number | null };
  acc5: { mean: number; sd: number | null };
  /** Acc@1 against the previous row; null on the first row. */
  change: Change | null;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function studyTable(inputs: readonly StudyInput[]): StudyRow[] {
  return inputs.map((r, i) => {
    const prev = i > 0 ? inputs[i - 1]! : null;
    let change: Change | null = null;
    if (prev) {
      const w = welch(r.acc1, prev.acc1);
      const ci = welchInterval(r.acc1, prev.acc1);
      change = {
        diff: w.diff,
        t: finite(w.t),
        df: finite(w.df),
        lo: finite(ci.lo),
        hi: finite(ci.hi),
      };
    }
    return {
      name: r.name,
      n: r.acc1.length,
      acc1: { mean: mean(r.acc1), sd: finite(sampleSd(r.acc1)) },
      acc5: { mean: mean(r.acc5), sd: finite(sampleSd(r.acc5)) },
      change,
    };
  });
}

const ms = (s: { mean: number; sd: number | null }) =>
  `${s.mean.toFixed(2)}${s.sd === null ? '' : ` ± ${s.sd.toFixed(2)}`}`;
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
const num = (v: number | null, d: number) => (v === null ? 'n/a' : v.toFixed(d));

function cells(r: StudyRow): string[] {
  const c = r.change;
  return [
    r.name,
    String(r.n),
    ms(r.acc1),
    ms(r.acc5),
    c ? signed(c.diff) : '',
    c ? num(c.t, 2) : '',
    c ? num(c.df, 1) : '',
    c ? (c.lo === null ? 'n/a' : `[${signed(c.lo)}, ${signed(c.hi!)}]`) : '',
  ];
}

const HEAD = ['variant', 'n', 'Acc@1', 'Acc@5', 'Δ Acc@1', 'Welch t', 'df', '95% CI of Δ'];

export function formatStudyText(rows: readonly StudyRow[], figure: string): string {
  const table = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, j) => Math.max(...table.map((r) => r[j]!.length)));
  const line = (r: string[]) =>
    r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  ');
  return (
    [line(HEAD), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map((r) => line(cells(r)))]
      .map((l) => l.trimEnd())
      .join('\n') +
    `\n\n${figure}; Δ against the row above (mean ± sd over seeds; Welch's t, unequal variances)\n`
  );
}

export function formatStudyMarkdown(rows: readonly StudyRow[], figure: string): string {
  const head = `| ${HEAD.join(' | ')} |\n|${HEAD.map((_, j) => (j === 0 ? '---' : '---:')).join('|')}|\n`;
  return (
    head +
    rows.map((r) => `| ${cells(r).join(' | ')} |`).join('\n') +
    `\n\n${figure}; Δ against the row above (mean ± sd over seeds; Welch's t, unequal variances).\n`
  );
}
