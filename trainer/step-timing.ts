/**
 * A measured training-step time on this machine, for `ringmaster plan --measure`: a few full
 * steps (forward, backward, SGD) of the recipe's model at its train crop, on the backend a
 * worker here would pick, with random data. Large batches are measured at a smaller batch
 * and scaled linearly (a step's cost is linear in the batch once it fills the cores).
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './engine/backend.js';
import { oneHotArray } from './data/mixup.js';
import { getArch } from './models/arch.js';
import { createResNet } from './models/resnet.js';
import { paramGroups, SGD } from './optim/sgd.js';
import type { Recipe } from '../api/schema.js';
import { Rng } from './rng.js';
import { distributedStep } from './step.js';

export interface StepTiming {
  backend: string;
  /** Batch the steps ran with. */
  measuredBatch: number;
  /** Seconds of one measured step, at measuredBatch. */
  measuredSecondsPerStep: number;
  /** Seconds of one step at the recipe's batch size (scaled from measuredBatch). */
  secondsPerStep: number;
  steps: number;
}

export async function measureStepSeconds(
  recipe: Readonly<Recipe>,
  numClasses: number,
  opts: { steps?: number; maxBatch?: number; backend?: string } = {},
): Promise<StepTiming> {
  const backend = await initBackend(opts.backend);
  const steps = opts.steps ?? 3;
  const batch = Math.min(recipe.batchSize, opts.maxBatch ?? 16);
  const { step, dispose } = syntheticStep(recipe, numClasses, batch);
  try {
    await step(); // warm-up: kernel set-up, allocations
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await step();
    const seconds = (performance.now() - t0) / 1000 / steps;
    return {
      backend: backend.name,
      measuredBatch: batch,
      measuredSecondsPerStep: seconds,
      secondsPerStep: (seconds * recipe.batchSize) / batch,
      steps,
    };
  } finally {
    dispose();
    tf.disposeVariables();
  }
}

/** The recipe fields a synthetic step needs. */
export type StepRecipe = Pick<
  Recipe,
  | 'model'
  | 'seed'
  | 'trainCropSize'
  | 'weightDecay'
  | 'normWeightDecay'
  | 'momentum'
  | 'labelSmoothing'
  | 'lr'
>;

/**
 * One process's training step (`distributedStep`, no group) of the recipe's model on a fixed
 * random batch at its train crop: what `plan --measure` and `bench:train-step` time.
 */
export function syntheticStep(
  recipe: StepRecipe,
  numClasses: number,
  batch: number,
): { step: () => Promise<unknown>; dispose: () => void } {
  const side = recipe.trainCropSize;
  const model = createResNet(getArch(recipe.model), { numClasses, seed: recipe.seed });
  const sgd = new SGD(
    paramGroups(model.params.keys(), (n) => model.isNormParam(n), {
      weightDecay: recipe.weightDecay,
      normWeightDecay: recipe.normWeightDecay,
    }),
    { momentum: recipe.momentum },
  );
  const rng = new Rng(recipe.seed);
  const images = Float32Array.from({ length: batch * side * side * 3 }, () => rng.normal());
  const targets = oneHotArray(
    Int32Array.from({ length: batch }, (_, i) => i % numClasses),
    numClasses,
  );
  const step = () =>
    distributedStep({
      model,
      sgd,
      group: null,
      images,
      targets,
      batch,
      height: side,
      width: side,
      labelSmoothing: recipe.labelSmoothing,
      lr: recipe.lr,
    });
  return {
    step,
    dispose: () => {
      model.dispose();
      sgd.dispose();
    },
  };
}
