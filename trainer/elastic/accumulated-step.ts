/**
 * One optimizer step of an elastic group: this process runs k original ranks (virtual-ranks.ts)
 * one after another as gradient-accumulation micro-steps — each on exactly the batch its
 * original rank would have had, with that rank's BatchNorm buffers — sums their gradients on
 * the host in micro-step order, sums those over the group, and divides by the logical world
 * size W once: the mean over W ranks that the full group's all-reduce computes.
 *
 * Same value, same bits? With W = 2 on one process the sum is g0 + g1 and then ÷ 2, exactly
 * the ring's (float addition of two terms commutes): bit-identical, given bit-identical
 * per-rank gradients (same backend and compute thread count). With more than two terms the
 * order differs from the ring's (which starts each segment's sum at a different rank), so the
 * result may differ in the last bits of float32 (relative ~1e-7 per step).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Group } from '../comm/index.js';
import { trainStepGrads } from '../models/train-step.js';
import type { ResNetModel } from '../models/resnet.js';
import { smoothedCrossEntropy } from '../optim/loss.js';
import { addCounts, targetLabels, topkCountsFromArray, type TopkCounts } from '../optim/metrics.js';
import type { SGD } from '../optim/sgd.js';
import type { StepResult } from '../step-input.js';
import type { VirtualRanks } from './virtual-ranks.js';

export interface MicroBatch {
  /** NHWC images, B·H·W·3 (already mixed). */
  images: Float32Array;
  /** Soft targets, B·numClasses. */
  targets: Float32Array;
  batch: number;
  height: number;
  width: number;
}

export interface AccumulatedStepInput {
  model: ResNetModel;
  sgd: SGD;
  group: Group;
  vranks: VirtualRanks;
  /** One per original rank run here, in vranks.ranks order. */
  micro: readonly MicroBatch[];
  labelSmoothing: number;
  lr: number;
  /** Summed over the group with the gradients (a stop flag); read back after the step. */
  shared?: Float32Array;
  onGradientsReady?: () => void;
}

export async function accumulatedStep(s: AccumulatedStepInput): Promise<StepResult> {
  const { model, group, vranks } = s;
  const names = [...model.params.keys()];
  let sum: Float32Array | null = null;
  const lossBox = new Float32Array(1);
  let counts: TopkCounts = { correct1: 0, correct5: 0, count: 0 };
  s.micro.forEach((m, j) => {
    const { loss, grads, logits } = vranks.withRank(j, model, () => microGrads(model, m, s));
    const fused = tf.tidy(() => tf.concat(names.map((n) => tf.reshape(grads.get(n)!, [-1]))));
    for (const g of grads.values()) g.dispose();
    const host = fused.dataSync() as Float32Array;
    fused.dispose();
    // Float32Array stores round each sum to float32: the sum the ring computes, term by term.
    if (sum === null) sum = Float32Array.from(host);
    else for (let i = 0; i < sum.length; i++) sum[i] += host[i]!;
    lossBox[0] += loss;
    const labels = targetLabels(m.targets, model.numClasses);
    counts = addCounts(counts, topkCountsFromArray(logits, model.numClasses, labels));
  });
  const total = sum!;
  s.onGradientsReady?.();
  let reduceMs = 0;
  if (group.worldSize > 1) {
    const t0 = performance.now();
    await group.allReduce([total, lossBox, ...(s.shared ? [s.shared] : [])], 'sum');
    reduceMs = performance.now() - t0;
  }
  const W = vranks.logicalWorkers;
  for (let i = 0; i < total.length; i++) total[i] /= W;
  lossBox[0] /= W;
  const averaged = unfuse(total, names, model.params);
  try {
    s.sgd.step(model.params, averaged, s.lr);
  } finally {
    for (const g of averaged.values()) g.dispose();
  }
  return { loss: lossBox[0]!, counts, reduceMs };
}

function microGrads(
  model: ResNetModel,
  m: MicroBatch,
  s: AccumulatedStepInput,
): { loss: number; grads: Map<string, tf.Tensor>; logits: Float32Array } {
  const x = tf.tensor4d(m.images, [m.batch, m.height, m.width, 3]);
  const t = tf.tensor2d(m.targets, [m.batch, model.numClasses]);
  let logits: Float32Array | undefined;
  try {
    const { loss, grads } = trainStepGrads(model, x, (out) => {
      logits = out.dataSync() as Float32Array;
      return smoothedCrossEntropy(out, t, s.labelSmoothing);
    });
    return { loss, grads, logits: logits! };
  } finally {
    x.dispose();
    t.dispose();
  }
}

/** The summed gradient back on the backend, split into tensors shaped like the parameters. */
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
