/**
 * The best epoch's weights, kept next to the last (torchvision keeps only the last; the
 * seed's runs reported the final epoch, but a short or unstable run can peak earlier).
 * `recipe.bestMetric` says what "best" means: `emaAcc1` picks by the EMA's Acc@1 and keeps
 * the EMA weights (when modelEma is off: Acc@1 and the model's weights), `acc1` by the
 * model's Acc@1 and keeps the model's weights. Ties keep the earlier epoch.
 *
 * The choice is recomputed from the metrics history, which checkpoints carry, so a resumed
 * run keeps the same best; the weights are written (rank 0) before the epoch's checkpoint,
 * so a crash in between reruns the epoch (deterministically) and writes them again.
 * weights/best/ is separate from checkpoints/: pruning old checkpoints (keepCheckpoints)
 * never removes the best weights.
 */
import type { Recipe } from '../api/schema.js';
import type { EpochMetrics } from './report/metrics-log.js';

export type BestMetric = 'emaAcc1' | 'acc1';

/** The metric in effect and whether it selects the EMA weights. */
export function bestMetricOf(recipe: Pick<Recipe, 'bestMetric' | 'modelEma'>): {
  metric: BestMetric;
  ema: boolean;
} {
  return recipe.bestMetric === 'emaAcc1' && recipe.modelEma
    ? { metric: 'emaAcc1', ema: true }
    : { metric: 'acc1', ema: false };
}

/** The earliest epoch with the highest value of the metric (null: none reported it). */
export function bestEpoch(
  history: readonly EpochMetrics[],
  metric: BestMetric,
): { epoch: number; value: number } | null {
  let best: { epoch: number; value: number } | null = null;
  for (const row of history) {
    const v = row[metric];
    if (v === null || !Number.isFinite(v)) continue;
    if (best === null || v > best.value) best = { epoch: row.epoch, value: v };
  }
  return best;
}

/** True when `row` (just appended to `history`) is the new best. */
export function isNewBest(
  history: readonly EpochMetrics[],
  row: EpochMetrics,
  metric: BestMetric,
): boolean {
  return bestEpoch(history, metric)?.epoch === row.epoch;
}
