/**
 * The EMA decay torchvision's train.py actually uses: the nominal decay is for 1 image per
 * EMA update over a 1-epoch horizon, so it is adjusted by how many images an update covers
 * and by the number of epochs:
 *   adjust = world_size · batch_per_worker · ema_steps / epochs
 *   α = min(1, (1 − decay) · adjust),  decay' = 1 − α.
 * A single-process run puts the global batch in place of world_size · batch_per_worker.
 */
import type { Recipe } from '../../api/schema.js';

export function emaDecay(
  recipe: Pick<Recipe, 'modelEma' | 'modelEmaDecay' | 'modelEmaSteps' | 'batchSize' | 'epochs'>,
  worldSize: number,
): number | null {
  if (!recipe.modelEma) return null;
  const adjust = (worldSize * recipe.batchSize * recipe.modelEmaSteps) / recipe.epochs;
  const alpha = Math.min(1, (1 - recipe.modelEmaDecay) * adjust);
  return 1 - alpha;
}

/** EMA updates in an epoch of `itersPerEpoch` steps: at steps i with i mod emaSteps = 0. */
export function emaUpdatesPerEpoch(itersPerEpoch: number, emaSteps: number): number {
  return Math.ceil(itersPerEpoch / emaSteps);
}
