/**
 * How screening chooses: each variant's score is the mean EMA Acc@1 of its screening seeds
 * that succeeded (Acc@1 when a seed has no EMA figure, as with modelEma off); the `keep`
 * variants with the highest scores get the full run, ties to the earlier row. A variant whose
 * every screening seed failed has no score and is never kept. The operator and
 * `ringmaster study --local` both choose with this.
 */
import { mean } from '../common/stats.js';
import type { SeedRunStatus } from './status.js';

/** The screening score of one variant, or undefined when no seed succeeded. */
export function screeningScore(seeds: readonly SeedRunStatus[]): number | undefined {
  const values = seeds
    .filter((s) => s.phase === 'Succeeded')
    .map((s) => s.metrics?.emaAcc1 ?? s.metrics?.acc1)
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return values.length > 0 ? mean(values) : undefined;
}

/** Indices of the `keep` best scores (undefined never chosen), returned in row order. */
export function keepBest(scores: ReadonlyArray<number | undefined>, keep: number): number[] {
  return scores
    .map((score, i) => ({ score, i }))
    .filter((s): s is { score: number; i: number } => s.score !== undefined)
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, keep)
    .map((s) => s.i)
    .sort((a, b) => a - b);
}
