/**
 * The data-parallel step with communication behind compute: the backward pass runs node by
 * node (engine/staged-grads.ts) and hands each final gradient to GradientBuckets, whose
 * all-reduces run while the earlier layers are still being differentiated. What is left
 * exposed is the last bucket's all-reduce and whatever the backend leaves no room for (on a
 * CPU backend compute and the ring share the same cores: see docs/adr/0090).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Group } from './comm/index.js';
import { stagedVariableGrads } from './engine/staged-grads.js';
import { GradientBuckets } from './grad-buckets.js';
import { smoothedCrossEntropy } from './optim/loss.js';
import { targetLabels, topkCountsFromArray } from './optim/metrics.js';
import type { StepInput, StepResult } from './step-input.js';

export async function overlappedStep(s: StepInput & { group: Group }): Promise<StepResult> {
  const { model } = s;
  const names = [...model.params.keys()];
  const vars = [...model.params.values()];
  const phases = s.phases;
  const t0 = performance.now();
  const buckets = new GradientBuckets(s.group, vars.length, s.bucketBytes);
  const x = tf.tensor4d(s.images, [s.batch, s.height, s.width, 3]);
  const t = tf.tensor2d(s.targets, [s.batch, model.numClasses]);
  let logits: Float32Array | undefined;
  let stats: ReturnType<typeof model.forward>['bnStats'];
  let lossValue: tf.Scalar;
  try {
    lossValue = await stagedVariableGrads(
      () => {
        const out = model.forward(x, true);
        stats = out.bnStats;
        logits = out.logits.dataSync() as Float32Array;
        return smoothedCrossEntropy(out.logits, t, s.labelSmoothing);
      },
      vars,
      { onGradient: (i, g) => buckets.add(i, g) },
    );
  } finally {
    x.dispose();
    t.dispose();
  }
  if (stats) model.updateBnStats(stats);
  const lossBox = new Float32Array([lossValue.dataSync()[0]!]);
  lossValue.dispose();
  s.onGradientsReady?.();
  const t1 = performance.now();
  await buckets.finish([lossBox, ...(s.shared ? [s.shared] : [])]);
  const t2 = performance.now();
  const averaged = new Map(
    names.map((n, i) => [n, tf.tensor(buckets.host[i]!, vars[i]!.shape)] as const),
  );
  try {
    s.sgd.step(model.params, averaged, s.lr);
  } finally {
    for (const g of averaged.values()) g.dispose();
  }
  if (phases) {
    phases.computeMs += t1 - t0 - buckets.copyMs;
    phases.toHostMs += buckets.copyMs;
    phases.allReduceMs += t2 - t1;
    phases.applyMs += performance.now() - t2;
  }
  const counts = topkCountsFromArray(
    logits!,
    model.numClasses,
    targetLabels(s.targets, model.numClasses),
  );
  // What the ring still needed once this rank's backward pass was done (the exposed wait).
  return { loss: lossBox[0]!, counts, reduceMs: t2 - t1 };
}
