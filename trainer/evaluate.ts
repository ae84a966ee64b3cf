/**
 * torchvision's `evaluate`: every rank runs its DistributedSampler slice of the validation
 * split through the model in eval mode; top-1/top-5 hits are counted and summed over the
 * ring, so the accuracy is sample-weighted over every rank.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Group } from './comm/index.js';
import type { DataLoader } from './data/loader.js';
import type { Sampler } from './data/sampler.js';
import type { ResNetModel } from './models/resnet.js';
import { accuracyFromCounts, addCounts, topk, type TopkCounts } from './optim/metrics.js';

export interface EvalData {
  loader: DataLoader;
  /** One per original rank this process runs (`ranks`), each that rank's slice. */
  samplers: readonly Sampler[];
  ranks: readonly number[];
  /** spec.workers: the world the samplers deal to. */
  logicalWorkers: number;
  batchSize: number;
  seed: number;
  group: Group;
}

export interface EvalResult {
  acc1: number;
  acc5: number;
  /** Samples evaluated over all ranks. */
  count: number;
  /** Padding made the ranks evaluate more samples than the split has. */
  biased: boolean;
}

/** Runs `fn` with the model holding original rank ranks[j]'s BatchNorm buffers. */
export type AsRank = (j: number, fn: () => Promise<TopkCounts>) => Promise<TopkCounts>;

/**
 * Each original rank run here evaluates its slice with its own BatchNorm buffers (`asRank`),
 * as it would in the full group, so the counts are the full group's whatever its size.
 */
export async function evaluate(
  data: EvalData,
  model: ResNetModel,
  asRank: AsRank = (_j, fn) => fn(),
): Promise<EvalResult> {
  const { group } = data;
  let counts: TopkCounts = { correct1: 0, correct5: 0, count: 0 };
  for (const [j, rank] of data.ranks.entries()) {
    const mine = await asRank(j, () =>
      countHits(data.loader, model, {
        indices: data.samplers[j]!.indices(0),
        batchSize: data.batchSize,
        seed: data.seed,
        rank,
        worldSize: data.logicalWorkers,
      }),
    );
    counts = addCounts(counts, mine);
  }
  const total = await sumOverRanks(group, counts);
  const { acc1, acc5 } = accuracyFromCounts(total);
  return { acc1, acc5, count: total.count, biased: total.count > data.loader.numSamples };
}

/** Top-1/top-5 hits of the model (eval mode) over the given samples of a loader. */
export async function countHits(
  loader: DataLoader,
  model: ResNetModel,
  o: { indices: Uint32Array; batchSize: number; seed: number; rank?: number; worldSize?: number },
): Promise<TopkCounts> {
  const batches = loader.epoch({ epoch: 0, ...o });
  let counts: TopkCounts = { correct1: 0, correct5: 0, count: 0 };
  try {
    for await (const batch of batches) {
      const x = tf.tensor4d(batch.images, [batch.labels.length, batch.height, batch.width, 3]);
      const { logits } = model.forward(x, false);
      counts = addCounts(counts, topk(logits, batch.labels));
      x.dispose();
      logits.dispose();
    }
  } finally {
    await batches.return(undefined);
  }
  return counts;
}

/** Hit counts summed over the ring (exact: float32 holds integers up to 2^24). */
export async function sumOverRanks(group: Group, c: TopkCounts): Promise<TopkCounts> {
  const sums = new Float32Array([c.correct1, c.correct5, c.count]);
  await group.allReduce(sums, 'sum');
  return { correct1: sums[0]!, correct5: sums[1]!, count: sums[2]! };
}
