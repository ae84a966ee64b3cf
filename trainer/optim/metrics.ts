/**
 * Evaluation and progress metrics, after torchvision's references/classification/utils.py:
 * top-k hits counted per batch (counts, not percentages, so ranks can all-reduce sums and the
 * result is sample-weighted over every rank), and SmoothedValue / MetricLogger for the
 * running figures the progress display shows.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InputError } from '../errors.js';

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
 * A series of values with a sliding window (median, avg, max, latest) and the global
 * weighted average — torchvision's SmoothedValue. `count`/`total` are what ranks sum.
 */
export class SmoothedValue {
  private readonly window: number[] = [];
  total = 0;
  count = 0;

  constructor(readonly windowSize = 20) {}

  update(value: number, n = 1): void {
    this.window.push(value);
    if (this.window.length > this.windowSize) this.window.shift();
    this.count += n;
    this.total += value * n;
  }

  /** Median of the window; for an even count the lower middle value, as torch.median. */
  get median(): number {
    if (this.window.length === 0) return NaN;
    const sorted = [...this.window].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)]!;
  }

  get avg(): number {
    if (this.window.length === 0) return NaN;
    return this.window.reduce((s, v) => s + v, 0) / this.window.length;
  }

  get globalAvg(): number {
    return this.total / this.count;
  }

  get max(): number {
    return this.window.length === 0 ? NaN : Math.max(...this.window);
  }

  get value(): number {
    return this.window.length === 0 ? NaN : this.window[this.window.length - 1]!;
  }

  /** Replace the global sums by the all-ranks ones (the window stays local, as in torchvision). */
  synchronize(sums: { count: number; total: number }): void {
    this.count = sums.count;
    this.total = sums.total;
  }

  toString(): string {
    return `${this.median.toFixed(4)} (${this.globalAvg.toFixed(4)})`;
  }
}

/** Named SmoothedValues, printed as `name: median (global avg)` joined by a delimiter. */
export class MetricLogger {
  readonly meters = new Map<string, SmoothedValue>();

  constructor(
    private readonly delimiter = '  ',
    private readonly windowSize = 20,
  ) {}

  meter(name: string): SmoothedValue {
    let m = this.meters.get(name);
    if (!m) {
      m = new SmoothedValue(this.windowSize);
      this.meters.set(name, m);
    }
    return m;
  }

  /** Add one value per name (weight n each). */
  update(values: Record<string, number>, n = 1): void {
    for (const [k, v] of Object.entries(values)) this.meter(k).update(v, n);
  }

  toString(): string {
    return [...this.meters].map(([k, m]) => `${k}: ${m.toString()}`).join(this.delimiter);
  }
}
