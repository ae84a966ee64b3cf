/**
 * One optimizer step of data-parallel training: forward and backward on this rank's batch,
 * the gradients averaged over the ring, SGD. Scalars that every rank must agree on (the
 * loss for the log, a stop request) ride along in the same all-reduce. The step also counts
 * this rank's top-1/top-5 hits against the targets' argmax, as torchvision's train_one_epoch
 * measures train accuracy (on the mixed targets when mixup/cutmix is on).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Group } from './comm/index.js';
import type { ResNetModel } from './models/resnet.js';
import { trainStepGrads } from './models/train-step.js';
import { smoothedCrossEntropy } from './optim/loss.js';
import { targetLabels, topkCountsFromArray, type TopkCounts } from './optim/metrics.js';
import type { SGD } from './optim/sgd.js';

export interface StepInput {
  model: ResNetModel;
  sgd: SGD;
  /** null (or a group of one) for a single process. */
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
  /** Called when this rank's gradients are ready, before it waits on its peers. */
  onGradientsReady?: () => void;
}

export interface StepResult {
  /** The loss averaged over the ranks. */
  loss: number;
  /** This rank's hits of the training-mode logits against the targets' argmax. */
  counts: TopkCounts;
  /** Time spent in the all-reduce (mostly waiting for the slowest rank), ms. */
  reduceMs: number;
}

export async function distributedStep(s: StepInput): Promise<StepResult> {
  const { model } = s;
  const names = [...model.params.keys()];
  const x = tf.tensor4d(s.images, [s.batch, s.height, s.width, 3]);
  const t = tf.tensor2d(s.targets, [s.batch, model.numClasses]);
  let grads: Map<string, tf.Tensor>;
  let loss: number;
  let logits: Float32Array | undefined;
  try {
    ({ loss, grads } = trainStepGrads(model, x, (out) => {
      // Read where they are made (nothing kept past the gradient scope); the step waits for
      // the loss right after anyway.
      logits = out.dataSync() as Float32Array;
      return smoothedCrossEntropy(out, t, s.labelSmoothing);
    }));
  } finally {
    x.dispose();
    t.dispose();
  }
  const labels = targetLabels(s.targets, model.numClasses);
  const counts = topkCountsFromArray(logits!, model.numClasses, labels);
  const lossBox = new Float32Array([loss]);
  let averaged = grads;
  let reduceMs = 0;
  // A group of one would all-reduce as the identity: skip copying every gradient out and back.
  if (s.group && s.group.worldSize > 1) {
    // Parameters, gradients and momentum stay on the backend; only the bytes the ring moves
    // cross to the host: every gradient fused into one buffer (one read), and back once.
    const fused = tf.tidy(() => tf.concat(names.map((n) => tf.reshape(grads.get(n)!, [-1]))));
    for (const g of grads.values()) g.dispose();
    // The fused tensor is ours alone: its host copy (on the cpu backend its very storage) can
    // be reduced in place once the tensor is gone.
    const host = fused.dataSync() as Float32Array;
    fused.dispose();
    s.onGradientsReady?.();
    const t0 = performance.now();
    await s.group.allReduce([host, lossBox, ...(s.shared ? [s.shared] : [])], 'mean');
    reduceMs = performance.now() - t0;
    averaged = unfuse(host, names, model.params);
  }
  try {
    s.sgd.step(model.params, averaged, s.lr);
  } finally {
    for (const g of averaged.values()) g.dispose();
  }
  return { loss: lossBox[0]!, counts, reduceMs };
}

/** The fused gradient back on the backend, split into tensors shaped like the parameters. */
function unfuse(
  host: Float32Array,
  names: readonly string[],
  params: ReadonlyMap<string, tf.Variable>,
): Map<string, tf.Tensor> {
  const shapes = names.map((n) => params.get(n)!.shape);
  const tensors = tf.tidy(() => {
    const parts = tf.split(
      tf.tensor1d(host),
      shapes.map((sh) => sh.reduce((a, b) => a * b, 1)),
    );
    return parts.map((t, i) => tf.reshape(t, shapes[i]!));
  });
  return new Map(names.map((n, i) => [n, tensors[i]!]));
}
