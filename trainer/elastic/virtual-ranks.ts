/**
 * The original ranks this process runs. A recipe of W logical ranks (spec.workers) on a group
 * of w processes: process r runs original ranks r·k … r·k+k−1 (k = W/w, api/elastic.ts), each
 * as one gradient-accumulation micro-step per optimizer step. What differs per original rank
 * without SyncBN — the BatchNorm running statistics and their EMA — is kept per original rank
 * here: the model holds the lead rank's (r·k, the one evaluation, the EMA and the weights
 * see), the others wait in a bank and are swapped in for their micro-step. At k = 1 this is
 * the identity and nothing is swapped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { accumulationSteps, virtualRanksOf } from '../../api/elastic.js';
import type { ResNetModel } from '../models/resnet.js';
import { ModelEma } from '../optim/ema.js';

type Buffers = Map<string, tf.Variable>;

export class VirtualRanks {
  /** Original ranks run here, lead first. */
  readonly ranks: readonly number[];
  /** Micro-steps per optimizer step (W / w). */
  readonly k: number;
  /** The non-lead ranks' BatchNorm buffers (index j−1 for ranks[j]). */
  private readonly bank: Buffers[] = [];
  /** The non-lead ranks' EMA of their buffers (parameters are shared: the lead's EMA has them). */
  private readonly emaBank: (ModelEma | null)[] = [];

  constructor(
    readonly logicalWorkers: number,
    readonly worldSize: number,
    readonly rank: number,
  ) {
    this.k = accumulationSteps(logicalWorkers, worldSize);
    this.ranks = virtualRanksOf(logicalWorkers, worldSize, rank);
  }

  get lead(): number {
    return this.ranks[0]!;
  }

  /** The other ranks start from the model's buffers as they are now (initial or resumed). */
  init(model: ResNetModel, emaDecay: number | null): void {
    this.dispose();
    for (let j = 1; j < this.k; j++) {
      this.bank.push(cloneAll(model.buffers));
      this.emaBank.push(emaDecay === null ? null : new ModelEma(emaDecay));
    }
  }

  /** Runs `fn` with original rank ranks[j]'s buffers in the model (the lead's are put back after). */
  withRank<T>(j: number, model: ResNetModel, fn: () => T): T {
    const theirs = j === 0 ? null : this.bank[j - 1]!;
    if (!theirs) return fn();
    swap(model.buffers, theirs);
    try {
      return fn();
    } finally {
      swap(model.buffers, theirs);
    }
  }

  /** The same around async work (evaluation). */
  async withRankAsync<T>(j: number, model: ResNetModel, fn: () => Promise<T>): Promise<T> {
    const theirs = j === 0 ? null : this.bank[j - 1]!;
    if (!theirs) return fn();
    swap(model.buffers, theirs);
    try {
      return await fn();
    } finally {
      swap(model.buffers, theirs);
    }
  }

  /** Runs `fn` with the EMA model holding rank ranks[j]'s averaged buffers (j = 0: as it is). */
  async withEmaRank<T>(j: number, emaModel: ResNetModel, fn: () => Promise<T>): Promise<T> {
    const theirs = j === 0 ? null : this.emaBank[j - 1]?.buffers;
    if (!theirs || theirs.size === 0) return fn();
    swap(emaModel.buffers, theirs);
    try {
      return await fn();
    } finally {
      swap(emaModel.buffers, theirs);
    }
  }

  /** The EMA rule for the non-lead ranks' buffers, after the lead's ModelEma.afterStep. */
  emaAfterStep(at: Parameters<ModelEma['afterStep']>[0]): void {
    const none = new Map<string, tf.Tensor>();
    this.emaBank.forEach((ema, i) => ema?.afterStep(at, none, this.bank[i]!));
  }

  /** Buffers of original rank ranks[j] (j ≥ 1) for its checkpoint file: model and EMA. */
  buffersOf(j: number): {
    model: ReadonlyMap<string, tf.Tensor>;
    ema: ReadonlyMap<string, tf.Tensor>;
  } {
    return { model: this.bank[j - 1]!, ema: this.emaBank[j - 1]?.buffers ?? new Map() };
  }

  /** Rank ranks[j]'s BatchNorm buffers (j ≥ 1), to restore from its checkpoint file. */
  bankOf(j: number): ReadonlyMap<string, tf.Variable> {
    return this.bank[j - 1]!;
  }

  /** Restores rank ranks[j]'s EMA buffers (j ≥ 1); `emaCount` is the lead's n_averaged. */
  restoreEma(
    j: number,
    tensors: ReadonlyMap<string, Float32Array | Int32Array>,
    emaCount: number,
  ): void {
    const e = this.emaBank[j - 1];
    if (e && tensors.size > 0)
      e.loadState({ nAveraged: emaCount, tensors }, new Map(), this.bank[j - 1]!);
  }

  /** The EMA of rank ranks[j]'s buffers (j ≥ 1), or null before its first update. */
  emaBuffersOf(j: number): ReadonlyMap<string, tf.Variable> | null {
    const e = this.emaBank[j - 1];
    return e && e.buffers.size > 0 ? e.buffers : null;
  }

  dispose(): void {
    for (const b of this.bank) for (const v of b.values()) v.dispose();
    for (const e of this.emaBank) e?.dispose();
    this.bank.length = 0;
    this.emaBank.length = 0;
  }
}

function cloneAll(m: ReadonlyMap<string, tf.Variable>): Buffers {
  return new Map([...m].map(([k, v]) => [k, tf.variable(v.clone(), false)]));
}

/** Exchanges the values of two sets of variables with the same names. */
function swap(a: ReadonlyMap<string, tf.Variable>, b: ReadonlyMap<string, tf.Variable>): void {
  tf.tidy(() => {
    for (const [name, va] of a) {
      const vb = b.get(name)!;
      const held = va.clone();
      va.assign(vb);
      vb.assign(held);
    }
  });
}
