/**
 * One optimizer step of data-parallel training: forward and backward on this rank's batch,
 * the gradients averaged over the ring, SGD. Scalars that every rank must agree on (the
 * loss for the log, a stop request) ride along in the same all-reduce.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Group } from './comm/index.js';
import type { ResNetModel } from './models/resnet.js';
import { trainStepGrads } from './models/train-step.js';
import { smoothedCrossEntropy } from './optim/loss.js';
import type { SGD } from './optim/sgd.js';

export interface StepInput {
  model: ResNetModel;
  sgd: SGD;
  /** null for a single process. */
  group: Group | null;
  /** NHWC images, B·H·W·3. */
  images: Float32Array;
  /** Soft targets, B·numClasses. */
  targets: Float32Array;
  batch: number;
  height: number;
  width: number;
  labelSmoothing: number;
  lr: number;
  /** Averaged with the gradients (e.g. a stop flag); read back after the step. */
  shared?: Float32Array;
}

export interface StepResult {
  /** The loss averaged over the ranks. */
  loss: number;
}

export async function distributedStep(s: StepInput): Promise<StepResult> {
  const { model } = s;
  const names = [...model.params.keys()];
  const x = tf.tensor4d(s.images, [s.batch, s.height, s.width, 3]);
  const t = tf.tensor2d(s.targets, [s.batch, model.numClasses]);
  let grads: Map<string, tf.Tensor>;
  let loss: number;
  try {
    ({ loss, grads } = trainStepGrads(model, x, (logits) =>
      smoothedCrossEntropy(logits, t, s.labelSmoothing),
    ));
  } finally {
    x.dispose();
    t.dispose();
  }
  const lossBox = new Float32Array([loss]);
  let averaged = grads;
  if (s.group && s.group.worldSize > 1) {
    const flat = names.map((n) => Float32Array.from(grads.get(n)!.dataSync() as Float32Array));
    try {
      await s.group.allReduce([...flat, lossBox, ...(s.shared ? [s.shared] : [])], 'mean');
    } finally {
      averaged = new Map(
        names.map((n, i) => [n, tf.tensor(flat[i]!, grads.get(n)!.shape, 'float32')]),
      );
      for (const g of grads.values()) g.dispose();
    }
  }
  try {
    s.sgd.step(model.params, averaged, s.lr);
  } finally {
    for (const g of averaged.values()) g.dispose();
  }
  return { loss: lossBox[0]! };
}
