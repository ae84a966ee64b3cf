/**
 * The seed's ablation table from multi-seed results: one row per variant in ladder order,
 * Acc@1 and Acc@5 as mean ± sd over its seeds, and against the row before the change in
 * Acc@1 with Welch's t, its df and a 95% interval of the difference (common/stats.ts).
 *
 * One table for every place that shows it: `ringmaster study RESULTS…` (seeds.json files),
 * `ringmaster study STUDY.yaml --local`, and a TrainingStudy's status (the operator), which
 * is why it lives in the contract and its rows carry no nulls (a figure that does not exist,
 * an sd of one seed, is absent).
 */
import { mean, sampleSd, welch, welchInterval } from '../common/stats.js';
import { InputError } from '../common/errors.js';
import type { SeedRunStatus } from './status.js';

export interface StudyInput {
  name: string;
  acc1: readonly number[];
  acc5: readonly number[];
}

export interface Change {
  diff: number;
  t?: number;
  df?: number;
  lo?: number;
  hi?: number;
}

export interface MeanSd {
  mean: number;
  sd?: number;
}

export interface StudyRow {
  name: string;
  n: number;
  acc1: MeanSd;
  /** Absent when no seed reported it (e.g. EMA Acc@5 not measured). */
  acc5?: MeanSd;
  /** Acc@1 against the previous row; absent on the first row. */
  change?: Change;
}

/** `{ key: x }` when x is a finite number, else `{}`. */
const finite = <K extends string>(key: K, x: number): { [k in K]?: number } =>
  (Number.isFinite(x) ? { [key]: x } : {}) as { [k in K]?: number };

function meanSd(xs: readonly number[]): MeanSd | undefined {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.length > 0 ? { mean: mean(ok), ...finite('sd', sampleSd(ok)) } : undefined;
}

export function studyTable(inputs: readonly StudyInput[]): StudyRow[] {
  return inputs.map((r, i) => {
    const prev = i > 0 ? inputs[i - 1]! : null;
    const acc5 = meanSd(r.acc5);
    const row: StudyRow = {
      name: r.name,
      n: r.acc1.length,
      // studyInputs keeps only seeds with a finite Acc@1 figure.
      acc1: meanSd(r.acc1) ?? { mean: NaN },
      ...(acc5 ? { acc5 } : {}),
    };
    if (prev) {
      const w = welch(r.acc1, prev.acc1);
      const ci = welchInterval(r.acc1, prev.acc1);
      row.change = {
        diff: w.diff,
        ...finite('t', w.t),
        ...finite('df', w.df),
        ...finite('lo', ci.lo),
        ...finite('hi', ci.hi),
      };
    }
    return row;
  });
}

/** One row's results: the seeds' runs of one variant, named, with where they came from. */
export interface VariantSeeds {
  name: string;
  /** Where the seeds were read (a seeds.json, a child recipe): named in errors. */
  source: string;
  seeds: readonly SeedRunStatus[];
}

export type StudyFigure = 'ema' | 'model';

/**
 * Acc@1/Acc@5 of the seeds that succeeded: the EMA's when every seed of every row has them
 * (figure ema), else the model's, so that no row compares EMA with model weights.
 * `allowEmpty`: a row with no succeeded seed yet is left out instead of being an error (a
 * study still running).
 */
export function studyInputs(
  variants: readonly VariantSeeds[],
  figure: StudyFigure,
  opts: { allowEmpty?: boolean } = {},
): { inputs: StudyInput[]; caption: string } {
  let ok = variants.map((v) => ({
    v,
    seeds: v.seeds.filter(
      (s) => s.phase === 'Succeeded' && Number.isFinite(s.metrics?.acc1 ?? s.metrics?.emaAcc1),
    ),
  }));
  const empty = ok.find((o) => o.seeds.length === 0);
  if (empty && !opts.allowEmpty) {
    throw new InputError(`no seed succeeded in ${empty.v.source}`, [
      { path: empty.v.source, message: 'needs at least one Succeeded seed' },
    ]);
  }
  ok = ok.filter((o) => o.seeds.length > 0);
  const useEma =
    figure === 'ema' && ok.every((o) => o.seeds.every((s) => s.metrics?.emaAcc1 !== undefined));
  const inputs = ok.map(({ v, seeds }) => ({
    name: v.name,
    acc1: seeds.map((s) => (useEma ? s.metrics!.emaAcc1! : (s.metrics?.acc1 ?? NaN))),
    acc5: seeds.map((s) => (useEma ? (s.metrics!.emaAcc5 ?? NaN) : (s.metrics?.acc5 ?? NaN))),
  }));
  return {
    inputs,
    caption: useEma
      ? 'EMA weights (Acc@1, Acc@5 of the EMA)'
      : figure === 'ema'
        ? 'model weights (some seeds have no EMA figures)'
        : 'model weights',
  };
}

const ms = (s: MeanSd | undefined) =>
  s === undefined
    ? 'n/a'
    : `${s.mean.toFixed(2)}${s.sd === undefined ? '' : ` ± ${s.sd.toFixed(2)}`}`;
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
const num = (v: number | undefined, d: number) => (v === undefined ? 'n/a' : v.toFixed(d));

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
    c
      ? c.lo === undefined || c.hi === undefined
        ? 'n/a'
        : `[${signed(c.lo)}, ${signed(c.hi)}]`
      : '',
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
