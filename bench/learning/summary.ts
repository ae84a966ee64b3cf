/**
 * The multi-seed summary of bench:learning: per-seed results of both sides in, statistics
 * (mean ± sd per side, ratio of means, Welch t/df and a 95% interval of the difference) and
 * the printed table out. Pure, so it is tested without training anything.
 */
import { mean, sampleSd, welch, welchInterval } from '../../common/stats.js';

/** One epoch as both sides report it (accuracies in percent). */
export interface EpochRow {
  epoch: number;
  acc1: number | null;
  emaAcc1: number | null;
  trainLoss: number;
}

/** What one side did for one seed: the last epoch's figures and every epoch. */
export interface SideResult {
  acc1: number | null;
  emaAcc1: number | null;
  trainLoss: number | null;
  minutes: number;
  epochs: EpochRow[];
}

export interface SeedResult {
  seed: number;
  dir: string;
  pytorch: SideResult | null;
  ringmaster: SideResult | null;
  /** ringmaster EMA Acc@1 / pytorch EMA Acc@1 for this seed. */
  emaRatio: number | null;
}

export type Metric = 'acc1' | 'emaAcc1' | 'trainLoss';
export const METRICS: readonly Metric[] = ['acc1', 'emaAcc1', 'trainLoss'];

export interface Spread {
  n: number;
  mean: number | null;
  sd: number | null;
  values: number[];
}

export type SideStats = Record<Metric, Spread>;

/** ringmaster − pytorch for one metric. */
export interface Comparison {
  ratioOfMeans: number | null;
  diff: number | null;
  se: number | null;
  t: number | null;
  df: number | null;
  ci95: { lo: number | null; hi: number | null; halfWidth: number | null };
}

export interface Summary {
  seeds: SeedResult[];
  pytorch: SideStats | null;
  ringmaster: SideStats | null;
  comparison: Record<Metric, Comparison> | null;
  /** Ratio of the mean EMA Acc@1s (ringmaster / pytorch): the bench's headline. */
  ratio: number | null;
}

export const DEFAULT_SEEDS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

/**
 * The seeds to run: BENCH_SEEDS ("0,1,2"), else BENCH_SEED ("3", shorthand for one seed),
 * else 0–11. Setting both is refused rather than guessing which one was meant.
 */
export function parseSeeds(seeds: string | undefined, seed: string | undefined): number[] {
  const set = (v: string | undefined) => v !== undefined && v.trim() !== '';
  if (set(seeds) && set(seed)) throw new Error('set BENCH_SEEDS or BENCH_SEED, not both');
  const text = set(seeds) ? seeds! : set(seed) ? seed! : undefined;
  if (text === undefined) return [...DEFAULT_SEEDS];
  const name = set(seeds) ? 'BENCH_SEEDS' : 'BENCH_SEED';
  const parts = text.split(',').map((p) => p.trim());
  if (name === 'BENCH_SEED' && parts.length > 1) {
    throw new Error('BENCH_SEED takes one seed; use BENCH_SEEDS for a list');
  }
  const out = parts.map((p) => {
    const n = /^\d+$/.test(p) ? Number(p) : NaN;
    if (!Number.isSafeInteger(n)) {
      throw new Error(`${name} must be non-negative integers separated by commas, got "${text}"`);
    }
    return n;
  });
  if (new Set(out).size !== out.length) throw new Error(`${name} repeats a seed: "${text}"`);
  return out;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The last epoch of a side's rows, as a SideResult. */
export function sideResult(epochs: EpochRow[], minutes: number): SideResult {
  const last = epochs.at(-1);
  return {
    acc1: last?.acc1 ?? null,
    emaAcc1: last?.emaAcc1 ?? null,
    trainLoss: last?.trainLoss ?? null,
    minutes,
    epochs,
  };
}

export function emaRatio(p: SideResult | null, r: SideResult | null): number | null {
  if (!p?.emaAcc1 || r?.emaAcc1 === null || r?.emaAcc1 === undefined) return null;
  return r.emaAcc1 / p.emaAcc1;
}

function spread(values: number[]): Spread {
  return { n: values.length, mean: finite(mean(values)), sd: finite(sampleSd(values)), values };
}

function sideStats(results: (SideResult | null)[]): SideStats | null {
  const ran = results.filter((r): r is SideResult => r !== null);
  if (ran.length === 0) return null;
  const of = (m: Metric) =>
    spread(ran.map((r) => r[m]).filter((v): v is number => v !== null && Number.isFinite(v)));
  return { acc1: of('acc1'), emaAcc1: of('emaAcc1'), trainLoss: of('trainLoss') };
}

function compare(p: Spread, r: Spread): Comparison {
  const w = welch(r.values, p.values);
  const ci = welchInterval(r.values, p.values, 0.95);
  return {
    ratioOfMeans: r.mean !== null && p.mean ? r.mean / p.mean : null,
    diff: finite(w.diff),
    se: finite(w.se),
    t: finite(w.t),
    df: finite(w.df),
    ci95: { lo: finite(ci.lo), hi: finite(ci.hi), halfWidth: finite(ci.halfWidth) },
  };
}

export function summarize(seeds: SeedResult[]): Summary {
  const pytorch = sideStats(seeds.map((s) => s.pytorch));
  const ringmaster = sideStats(seeds.map((s) => s.ringmaster));
  const comparison =
    pytorch && ringmaster
      ? {
          acc1: compare(pytorch.acc1, ringmaster.acc1),
          emaAcc1: compare(pytorch.emaAcc1, ringmaster.emaAcc1),
          trainLoss: compare(pytorch.trainLoss, ringmaster.trainLoss),
        }
      : null;
  return {
    seeds,
    pytorch,
    ringmaster,
    comparison,
    ratio: comparison?.emaAcc1.ratioOfMeans ?? null,
  };
}

const fmt = (v: number | null | undefined, digits: number, width: number) =>
  (v === null || v === undefined ? 'n/a' : v.toFixed(digits)).padStart(width);
const sign = (v: number | null, digits: number) =>
  v === null ? 'n/a' : `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;

function sideCells(s: SideResult | null): string {
  return `${fmt(s?.acc1, 2, 6)} ${fmt(s?.emaAcc1, 2, 6)} ${fmt(s?.trainLoss, 3, 6)}`;
}

function spreadCells(st: SideStats | null, key: 'mean' | 'sd'): string {
  return `${fmt(st?.acc1[key], 2, 6)} ${fmt(st?.emaAcc1[key], 2, 6)} ${fmt(st?.trainLoss[key], 3, 6)}`;
}

function sideLine(name: string, st: SideStats | null): string {
  if (!st) return `${name} did not run\n`;
  const ms = (s: Spread, d: number) => `${fmt(s.mean, d, 0)} ± ${fmt(s.sd, d, 0)} (n ${s.n})`;
  return (
    `${name} Acc@1 ${ms(st.acc1, 2)}   EMA Acc@1 ${ms(st.emaAcc1, 2)}   ` +
    `last-epoch loss ${ms(st.trainLoss, 3)}\n`
  );
}

function comparisonLine(label: string, c: Comparison, digits: number): string {
  return (
    `ringmaster − pytorch, ${label}: ${sign(c.diff, digits)} (Welch t ${fmt(c.t, 2, 0)}, ` +
    `df ${fmt(c.df, 1, 0)}; 95% CI [${fmt(c.ci95.lo, digits, 0)}, ${fmt(c.ci95.hi, digits, 0)}], ` +
    `${sign(c.diff, digits)} ± ${fmt(c.ci95.halfWidth, digits, 0)})\n`
  );
}

/** The end-of-run report; its last line is `ratio=<4 decimals>` or `ratio=n/a (…)`. */
export function formatSummary(s: Summary): string {
  let out =
    '\n      │ pytorch              │ ringmaster           │ (last epoch)\n' +
    ' seed │  Acc@1    EMA   loss │  Acc@1    EMA   loss │ EMA ratio\n' +
    '──────┼──────────────────────┼──────────────────────┼──────────\n';
  for (const r of s.seeds) {
    out += `${String(r.seed).padStart(5)} │ ${sideCells(r.pytorch)} │ ${sideCells(r.ringmaster)} │ ${fmt(r.emaRatio, 4, 9)}\n`;
  }
  out +=
    '──────┼──────────────────────┼──────────────────────┼──────────\n' +
    ` mean │ ${spreadCells(s.pytorch, 'mean')} │ ${spreadCells(s.ringmaster, 'mean')} │\n` +
    `   sd │ ${spreadCells(s.pytorch, 'sd')} │ ${spreadCells(s.ringmaster, 'sd')} │\n\n`;
  out += sideLine('pytorch   ', s.pytorch) + sideLine('ringmaster', s.ringmaster);
  const c = s.comparison;
  if (c) {
    out +=
      `ratio of means: EMA Acc@1 ${fmt(c.emaAcc1.ratioOfMeans, 4, 0)}, ` +
      `Acc@1 ${fmt(c.acc1.ratioOfMeans, 4, 0)}\n` +
      comparisonLine('EMA Acc@1', c.emaAcc1, 2) +
      comparisonLine('Acc@1', c.acc1, 2) +
      comparisonLine('last-epoch loss', c.trainLoss, 3);
  }
  out +=
    s.ratio !== null
      ? `ratio=${s.ratio.toFixed(4)}\n`
      : c
        ? 'ratio=n/a (no EMA Acc@1 on one side)\n'
        : 'ratio=n/a (one side did not run)\n';
  return out;
}

/** summary.json: NaN and ±Infinity become null so the file is valid JSON. */
export function summaryJson(s: Summary, config: Record<string, unknown>): string {
  return (
    JSON.stringify(
      { config, ...s },
      (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v),
      2,
    ) + '\n'
  );
}
