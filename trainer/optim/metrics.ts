/**
 * Top-1/top-5 accuracy after torchvision's references/classification/utils.py `accuracy`:
 * hits counted per batch (counts, not percentages, so ranks can all-reduce sums and the result
 * is sample-weighted over every rank). Soft targets (mixup/cutmix) count against their argmax,
 * as `accuracy` does with `target.max(dim=1)[1]` when the target has two dimensions.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InputError } from '../../common/errors.js';

export interface TopkCounts {
  /** Samples whose label is the top-1 prediction. */
  readonly correct1: number;
  /** Samples whose label is among the top 5 (all of them when there are ≤ 5 classes). */
  readonly correct5: number;
  readonly count: number;
}

/**
 * Rank of the label among the logits, ties broken towards the lower class index (as a stable
 * descending sort, and tf.topk, order them). NaN logits never outrank anything; a NaN label
 * logit ranks last.
 */
function labelRank(row: Float32Array, label: number): number {
  const v = row[label]!;
  if (Number.isNaN(v)) return row.length;
  let rank = 0;
  for (let c = 0; c < row.length; c++) {
    const x = row[c]!;
    if (x > v || (x === v && c < label)) rank++;
  }
  return rank;
}

/** Top-1/top-5 hit counts for logits given as a flat B·C array. */
export function topkCountsFromArray(
  logits: Float32Array,
  numClasses: number,
  labels: ArrayLike<number>,
): TopkCounts {
  const B = labels.length;
  if (logits.length !== B * numClasses)
    throw new InputError(`topk: ${logits.length} logits for ${B} labels × ${numClasses} classes`, [
      { path: 'logits', message: 'size does not match labels × classes' },
    ]);
  let correct1 = 0;
  let correct5 = 0;
  for (let b = 0; b < B; b++) {
    const label = labels[b]!;
    if (!(label >= 0 && label < numClasses))
      throw new InputError(`topk: label ${label} of sample ${b} outside 0..${numClasses - 1}`, [
        { path: `labels[${b}]`, message: 'out of range' },
      ]);
    const rank = labelRank(logits.subarray(b * numClasses, (b + 1) * numClasses), label);
    if (rank < 1) correct1++;
    if (rank < 5) correct5++;
  }
  return { correct1, correct5, count: B };
}

/** Top-1/top-5 hit counts of a batch of logits (B × C) against integer labels. */
export function topk(logits: tf.Tensor2D, labels: Int32Array | tf.Tensor1D): TopkCounts {
  const values = logits.dataSync() as Float32Array;
  const lab = labels instanceof tf.Tensor ? labels.dataSync() : labels;
  return topkCountsFromArray(values, logits.shape[1], lab);
}

export function addCounts(a: TopkCounts, b: TopkCounts): TopkCounts {
  return {
    correct1: a.correct1 + b.correct1,
    correct5: a.correct5 + b.correct5,
    count: a.count + b.count,
  };
}

/** Acc@1 and Acc@5 in percent, sample-weighted (NaN for an empty count). */
export function accuracyFromCounts(c: TopkCounts): { acc1: number; acc5: number } {
  return { acc1: (100 * c.correct1) / c.count, acc5: (100 * c.correct5) / c.count };
}

/**
 * The class of each row of soft targets (B·C): the index of its largest value, the first one
 * on a tie, as torch's `max(dim=1)` returns it. One-hot rows give back their labels; a mixed
 * row gives the label with the larger weight.
 */
export function targetLabels(targets: Float32Array, numClasses: number): Int32Array {
  const B = targets.length / numClasses;
  if (!Number.isInteger(B))
    throw new InputError(`targets: ${targets.length} values are not rows of ${numClasses}`, [
      { path: 'targets', message: 'size is not a multiple of the class count' },
    ]);
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) {
      if (targets[b * numClasses + c]! > targets[b * numClasses + best]!) best = c;
    }
    out[b] = best;
  }
  return out;
}
