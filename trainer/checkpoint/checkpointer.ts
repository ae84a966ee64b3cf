/**
 * The training loop's checkpoints (the storage layout and its atomicity are store.ts's).
 * Rank 0 writes the model, the EMA and the optimizer; every other rank adds its own BatchNorm
 * buffers (they differ per rank without SyncBN), so a resumed run is bit-identical to one that
 * was never interrupted. On start every rank loads the checkpoint rank 0 picked, or takes rank
 * 0's initial weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Group } from '../comm/index.js';
import type { Logger } from '../../common/log.js';
import { decodeSafetensors, encodeSafetensors } from '../models/safetensors.js';
import { loadStateDict, stateDict } from '../models/weights.js';
import type { EpochMetrics } from '../report/metrics-log.js';
import type { TrainState } from '../train-state.js';
import type { VirtualRanks } from '../elastic/virtual-ranks.js';
import { bestEpoch, type BestMetric } from '../best.js';
import type { EvalTransforms } from './artifact.js';
import { decodeTensors, encodeTensors, type NamedTensors } from './tensors.js';
import {
  checkpointName,
  rankFile,
  type Checkpoint,
  type CheckpointStore,
  type FileEntry,
} from './store.js';

export interface CheckpointerOptions {
  store: CheckpointStore;
  group: Group;
  state: TrainState;
  recipeHash: string;
  /** Accept a checkpoint written by another recipe (--allow-recipe-change). */
  allowRecipeChange: boolean;
  backend: string;
  itersPerEpoch: number;
  /** The original ranks this process runs: each gets its own rank file. */
  vranks: VirtualRanks;
  categories: readonly string[];
  /** Checkpoints kept; older ones are pruned, except the best epoch's. */
  keep: number;
  /** What "best epoch" means (recipe.bestMetric in effect, trainer/best.ts). */
  bestMetric: BestMetric;
  /** Architecture and eval transforms, so `eval` can score a checkpoint without meta.json. */
  inference: { arch: string; transforms: EvalTransforms };
  log: Logger;
}

/** Where a resumed run continues, and the metrics of the epochs before. */
export interface Resumed {
  name: string;
  uri: string;
  epoch: number;
  stepInEpoch: number;
  history: EpochMetrics[];
  /** spec.workers of the run that wrote it (older checkpoints: its group size). */
  logicalWorkers: number;
  /** Its steps per epoch (they change with spec.workers). */
  itersPerEpoch: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The newest complete checkpoint: what status.lastCheckpoint shows. */
export interface CheckpointInfo {
  uri: string;
  epoch: number;
  /** Optimizer steps over the whole run. */
  step: number;
  /** When it was complete (latest.json moved), RFC 3339. */
  time: string;
}

export class Checkpointer {
  /** URI of the newest checkpoint this run wrote or resumed from. */
  last: string | null = null;
  /** The same checkpoint with its position and time. */
  lastInfo: CheckpointInfo | null = null;
  /** How long the last save took on this rank, seconds (null before the first). */
  lastSaveSeconds: number | null = null;

  constructor(private readonly o: CheckpointerOptions) {}

  /** Saves the state after `stepInEpoch` steps of `epoch` (0 = the start of the epoch). */
  async save(epoch: number, stepInEpoch: number, history: readonly EpochMetrics[]): Promise<void> {
    const { group, store, state } = this.o;
    const started = performance.now();
    const name = checkpointName(epoch, stepInEpoch);
    const entry: Record<string, FileEntry> = {};
    // Every original rank but 0 adds its BatchNorm buffers (and their EMA), whichever process
    // runs it: a checkpoint holds all spec.workers ranks, so any group size can resume it.
    for (const [j, rank] of this.o.vranks.ranks.entries()) {
      if (rank === 0) continue;
      const mine =
        j === 0
          ? { model: state.model.buffers, ema: state.ema?.buffers ?? new Map() }
          : this.o.vranks.buffersOf(j);
      const buffers = new Map([...prefixed('model.', mine.model), ...prefixed('ema.', mine.ema)]);
      const file = rankFile(rank);
      entry[file] = await store.putFile(name, file, encodeTensors(buffers));
    }
    const gathered = await group.allGather(encoder.encode(JSON.stringify(entry)));
    if (group.rank === 0) {
      const others: Record<string, FileEntry> = {};
      for (const bytes of gathered) Object.assign(others, JSON.parse(decoder.decode(bytes)));
      await this.write(epoch, stepInEpoch, history, others);
    }
    await group.barrier();
    this.lastSaveSeconds = (performance.now() - started) / 1000;
  }

  private async write(
    epoch: number,
    stepInEpoch: number,
    history: readonly EpochMetrics[],
    others: Record<string, FileEntry>,
  ): Promise<void> {
    const { store, state, itersPerEpoch } = this.o;
    const { model, sgd, ema } = state;
    const files = new Map<string, Buffer>();
    files.set('model.safetensors', Buffer.from(encodeSafetensors(stateDict(model))));
    const momentum = new Map(
      [...sgd.state()].map(([k, v]) => [k, { data: v, shape: [...model.params.get(k)!.shape] }]),
    );
    files.set('optimizer.safetensors', encodeTensors(momentum));
    const averaged = state.averaged();
    if (averaged) files.set('ema.safetensors', Buffer.from(encodeSafetensors(stateDict(averaged))));
    const pointer = await store.save(
      {
        epoch,
        stepInEpoch,
        globalStep: epoch * itersPerEpoch + stepInEpoch,
        recipeHash: this.o.recipeHash,
        worldSize: this.o.group.worldSize,
        backend: this.o.backend,
        extra: {
          logicalWorkers: this.o.vranks.logicalWorkers,
          emaNAveraged: ema?.nAveraged ?? 0,
          metrics: history,
          categories: this.o.categories,
          itersPerEpoch,
          arch: this.o.inference.arch,
          transforms: this.o.inference.transforms,
        },
      },
      files,
      others,
    );
    this.last = store.uri(pointer.name);
    this.lastInfo = {
      uri: this.last,
      epoch,
      step: epoch * itersPerEpoch + stepInEpoch,
      time: new Date().toISOString(),
    };
    await store.prune(this.o.keep, bestCheckpoints(history, this.o.bestMetric));
    this.o.log.info({ checkpoint: this.last }, 'checkpoint written');
  }

  /** Loads the newest intact checkpoint on every rank, or broadcasts rank 0's initial weights. */
  async resume(): Promise<Resumed | null> {
    const { group, store, log } = this.o;
    // Every rank reads the same checkpoint: rank 0 picks it and tells the others its name.
    let chosen: Checkpoint | null = null;
    if (group.rank === 0) {
      chosen = await store.loadLatest({
        expectedRecipeHash: this.o.recipeHash,
        allowRecipeMismatch: this.o.allowRecipeChange,
        required: ['model.safetensors', 'optimizer.safetensors'],
      });
    }
    const names = await group.allGather(encoder.encode(chosen?.name ?? ''));
    const name = decoder.decode(names[0]);
    if (group.rank > 0 && name) {
      chosen = await store.load(name, {
        expectedRecipeHash: this.o.recipeHash,
        allowRecipeMismatch: true,
      });
    }
    if (!chosen) {
      await this.broadcastInitialWeights();
      this.o.vranks.init(this.o.state.model, this.o.state.emaDecay);
      log.info('starting from initial weights (no checkpoint)');
      return null;
    }
    this.restore(chosen);
    restoreOtherRanks(this.o, chosen);
    const s = chosen.state;
    const history = ((s.extra.metrics as EpochMetrics[] | undefined) ?? []).filter(
      (r) => r.epoch < s.epoch,
    );
    this.last = store.uri(chosen.name);
    this.lastInfo = {
      uri: this.last,
      epoch: s.epoch,
      step: s.globalStep,
      time: s.createdAt,
    };
    log.info({ checkpoint: this.last, epoch: s.epoch, step: s.stepInEpoch }, 'resumed');
    return {
      name: chosen.name,
      uri: this.last,
      epoch: s.epoch,
      stepInEpoch: s.stepInEpoch,
      history,
      logicalWorkers: Number(s.extra.logicalWorkers ?? s.worldSize),
      itersPerEpoch: Number(s.extra.itersPerEpoch ?? this.o.itersPerEpoch),
    };
  }

  private async broadcastInitialWeights(): Promise<void> {
    const { model } = this.o.state;
    const tensors = [...model.params.values(), ...model.buffers.values()].filter(
      (v) => v.dtype === 'float32',
    );
    const arrays = tensors.map((v) => Float32Array.from(v.dataSync() as Float32Array));
    await this.o.group.broadcast(arrays, 0);
    tensors.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(arrays[i]!, v.shape, 'float32'))));
  }

  private restore(chosen: Checkpoint): void {
    const { model, sgd, ema, emaTarget } = this.o.state;
    loadStateDict(model, decodeSafetensors(chosen.files.get('model.safetensors')!).tensors);
    const mine = chosen.files.get(rankFile(this.o.vranks.lead));
    const rankBuffers = mine ? decodeTensors(mine) : null;
    if (rankBuffers) assignAll(model.buffers, rankBuffers, 'model.');
    const opt = decodeTensors(chosen.files.get('optimizer.safetensors')!);
    sgd.loadState(new Map([...opt].map(([k, v]) => [k, v.data as Float32Array])), model.params);
    const emaFile = chosen.files.get('ema.safetensors');
    if (!ema || !emaTarget || !emaFile) return;
    // The EMA file is a model's state dict: load it into the EMA's model, then take the values.
    loadStateDict(emaTarget, decodeSafetensors(emaFile).tensors);
    if (rankBuffers) assignAll(emaTarget.buffers, rankBuffers, 'ema.');
    const tensors = new Map<string, Float32Array | Int32Array>();
    for (const [k, v] of [...emaTarget.params, ...emaTarget.buffers]) {
      const data = v.dataSync();
      tensors.set(k, v.dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data));
    }
    const nAveraged = Number(chosen.state.extra.emaNAveraged ?? 0);
    ema.loadState({ nAveraged, tensors }, model.params, model.buffers);
  }
}

/** The original ranks after the lead: their buffers (and EMA) from their own files. */
function restoreOtherRanks(o: CheckpointerOptions, chosen: Checkpoint): void {
  const { vranks, state } = o;
  vranks.init(state.model, state.emaDecay);
  const nAveraged = Number(chosen.state.extra.emaNAveraged ?? 0);
  for (const [j, rank] of vranks.ranks.entries()) {
    if (j === 0) continue;
    const file = chosen.files.get(rankFile(rank));
    if (!file) continue;
    const tensors = decodeTensors(file);
    assignAll(vranks.bankOf(j), tensors, 'model.');
    const ema = new Map<string, Float32Array | Int32Array>();
    for (const [k, t] of tensors) {
      if (!k.startsWith('ema.')) continue;
      const d = t.data;
      ema.set(
        k.slice(4),
        d instanceof Float32Array || d instanceof Int32Array ? d : Int32Array.from(d, Number),
      );
    }
    vranks.restoreEma(j, ema, nAveraged);
  }
}

/**
 * The checkpoint written at the end of the best epoch so far (epoch e ends in the checkpoint
 * named for the start of e + 1): pruning keeps it beyond the last `keep`, so the best epoch
 * can be resumed from or fine-tuned, not only its weights (weights/best/) used.
 */
export function bestCheckpoints(history: readonly EpochMetrics[], metric: BestMetric): string[] {
  const best = bestEpoch(history, metric);
  return best === null ? [] : [checkpointName(best.epoch + 1, 0)];
}

function prefixed(prefix: string, m: ReadonlyMap<string, tf.Tensor>): Array<[string, tf.Tensor]> {
  return [...m].map(([k, v]) => [prefix + k, v]);
}

function assignAll(
  target: ReadonlyMap<string, tf.Variable>,
  source: NamedTensors,
  prefix: string,
): void {
  for (const [name, v] of target) {
    const t = source.get(prefix + name);
    if (!t) continue;
    const data = t.data instanceof BigInt64Array ? Int32Array.from(t.data, Number) : t.data;
    tf.tidy(() => v.assign(tf.tensor(data, t.shape, v.dtype)));
  }
}
