/**
 * Elastic sizes: which numbers of worker pods keep a recipe's global batch exactly.
 *
 * The recipe's `spec.workers` (W) is its logical world size: the global batch is W ×
 * batchSize, the samplers deal the epoch to W ranks, BatchNorm normalizes over one rank's
 * batch. A group of w pods keeps all of that when w divides W: each pod runs k = W / w of the
 * original ranks as gradient-accumulation micro-steps (pod r runs original ranks r·k … r·k+k−1).
 * A w that does not divide W would have to split an original rank's batch between pods (its
 * BatchNorm statistics would change) or give pods unequal shares; neither keeps the run.
 * The trainer, the operator, `ringmaster plan` and the CRD's rules all take the rule from here.
 */
import { InputError } from '../common/errors.js';

export interface ElasticRange {
  minWorkers: number;
  maxWorkers: number;
}

/** Whether a group of `size` pods can run a recipe of `workers` logical ranks exactly. */
export function isFeasibleSize(workers: number, size: number): boolean {
  return Number.isInteger(size) && size >= 1 && size <= workers && workers % size === 0;
}

/** Every size in [min, max] that keeps the global batch of `workers` ranks, ascending. */
export function feasibleSizes(workers: number, range?: ElasticRange): number[] {
  const lo = Math.max(1, range?.minWorkers ?? workers);
  const hi = Math.min(workers, range?.maxWorkers ?? workers);
  const out: number[] = [];
  for (let w = lo; w <= hi; w++) if (isFeasibleSize(workers, w)) out.push(w);
  return out;
}

/** Accumulation micro-steps per pod at `size` pods (W / w). */
export function accumulationSteps(workers: number, size: number): number {
  if (!isFeasibleSize(workers, size)) {
    throw new InputError(
      `a group of ${size} worker(s) cannot run spec.workers = ${workers} exactly (each would ` +
        `need a fraction of an original rank's batch)`,
      [
        {
          path: 'spec.workers',
          message: `group sizes that keep the global batch: ${describeFeasibleSizes(workers)}`,
        },
      ],
    );
  }
  return workers / size;
}

/** The original ranks pod `rank` of a `size`-pod group runs, in micro-step order. */
export function virtualRanksOf(workers: number, size: number, rank: number): number[] {
  const k = accumulationSteps(workers, size);
  return Array.from({ length: k }, (_, j) => rank * k + j);
}

/**
 * The size to run at: the largest feasible size in the range that is at most `available`
 * (pods that can be placed), or null when even `minWorkers` cannot be.
 */
export function largestFeasibleSize(
  workers: number,
  range: ElasticRange,
  available: number,
): number | null {
  const fits = feasibleSizes(workers, range).filter((w) => w <= available);
  return fits.length > 0 ? fits[fits.length - 1]! : null;
}

/** "1, 2, 4, 8": the sizes that work for `workers` logical ranks (for messages). */
export function describeFeasibleSizes(workers: number): string {
  return feasibleSizes(workers, { minWorkers: 1, maxWorkers: workers }).join(', ');
}
