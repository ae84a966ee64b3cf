/**
 * One optimizer step of data-parallel training: forward and backward on this rank's batch,
 * the gradients averaged over the ring, SGD. Scalars that every rank must agree on (the
 * loss for the log, a stop request) ride along in the same all-reduce. The step also counts
 * this rank's top-1/top-5 hits against the targets' argmax, as torchvision's train_one_epoch
 * measures train accuracy (on the mixed targets when mixup/cutmix is on).
 */
import * as tf from '@tensorflow/tfjs-core';
import { trainStepGrads } from './models/train-step.js';
import { smoothedCrossEntropy } from './optim/loss.js';
import { targetLabels, topkCountsFromArray } from './optim/metrics.js';
import { overlappedStep } from './overlapped-step.js';
import type { StepInput, StepPhases, StepResult } from './step-input.js';

export type { StepInput, StepPhases, StepResult } from './step-input.js';

export async function distributedStep(s: StepInput): Promise<StepResult> {
  const { group } = s;
  if (group && group.worldSize > 1 && (s.overlap ?? true)) return overlappedStep({ ...s, group });
  return fusedStep(s);
}

/** Backward, then every gradient fused into one buffer and all-reduced at once. */
async function fusedStep(s: StepInput): Promise<StepResult> {
  const { model } = s;
  const clock = phaseClock(s.phases);
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
  clock('computeMs');
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
    clock('toHostMs');
    s.onGradientsReady?.();
    const t0 = performance.now();
    await s.group.allReduce([host, lossBox, ...(s.shared ? [s.shared] : [])], 'mean');
    reduceMs = performance.now() - t0;
    clock('allReduceMs');
    averaged = unfuse(host, names, model.params);
  }
  try {
    s.sgd.step(model.params, averaged, s.lr);
  } finally {
    for (const g of averaged.values()) g.dispose();
  }
  clock('applyMs');
  return { loss: lossBox[0]!, counts, reduceMs };
}

/** Adds the time since the last call to `phases[key]`; a no-op without `phases`. */
function phaseClock(phases: StepPhases | undefined): (key: keyof StepPhases) => void {
  if (!phases) return () => {};
  let last = performance.now();
  return (key) => {
    const now = performance.now();
    phases[key] += now - last;
    last = now;
  };
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
