/**
 * The learning-rate schedule, per epoch, as torchvision's train.py composes it:
 * `SequentialLR([warmup, main], milestones=[lrWarmupEpochs])` when there is a warmup,
 * the main scheduler alone otherwise. The LR is constant inside an epoch (stepped once per
 * epoch). Closed forms are used; torch's recursive updates agree to float rounding.
 */
import type { Recipe } from '../../api/schema.js';

type ScheduleFields = Pick<
  Recipe,
  | 'lr'
  | 'epochs'
  | 'lrScheduler'
  | 'lrStepSize'
  | 'lrGamma'
  | 'lrMin'
  | 'lrWarmupEpochs'
  | 'lrWarmupMethod'
  | 'lrWarmupDecay'
>;

/** LR of 0-based epoch `epoch`. Epochs past the end keep the main scheduler's formula. */
export function lrAtEpoch(recipe: ScheduleFields, epoch: number): number {
  if (!Number.isInteger(epoch) || epoch < 0)
    throw new RangeError(`epoch must be an integer ≥ 0, got ${epoch}`);
  const base = recipe.lr;
  const warmup = recipe.lrWarmupEpochs;
  if (epoch < warmup) {
    // LinearLR(start_factor=decay, end_factor=1, total_iters=warmup) / ConstantLR(factor=decay).
    const factor =
      recipe.lrWarmupMethod === 'linear'
        ? recipe.lrWarmupDecay + (1 - recipe.lrWarmupDecay) * (epoch / warmup)
        : recipe.lrWarmupDecay;
    return base * factor;
  }
  // SequentialLR restarts the main scheduler at the milestone: its own epoch counter is t.
  const t = epoch - warmup;
  switch (recipe.lrScheduler) {
    case 'cosineannealinglr': {
      // CosineAnnealingLR(T_max = epochs − warmup, eta_min = lrMin).
      const tMax = recipe.epochs - warmup;
      return recipe.lrMin + ((base - recipe.lrMin) * (1 + Math.cos((Math.PI * t) / tMax))) / 2;
    }
    case 'steplr':
      return base * recipe.lrGamma ** Math.floor(t / recipe.lrStepSize);
    case 'exponentiallr':
      return base * recipe.lrGamma ** t;
  }
}

/** One LR per epoch, `epochs` values. */
export function lrByEpoch(recipe: ScheduleFields): number[] {
  return Array.from({ length: recipe.epochs }, (_, e) => lrAtEpoch(recipe, e));
}
