/**
 * torchvision's `train_one_epoch`: this rank's batches of one epoch → mixup/cutmix → one
 * data-parallel step → the EMA rule, with checkpoints every `checkpointEverySteps` and a clean
 * stop (checkpoint, then StoppedError) when any rank was asked to stop. Train Acc@1/Acc@5
 * are counted as torchvision does — the training-mode logits against the argmax of the (mixed)
 * targets, weighted by batch size — and summed over the ranks at the end of the epoch.
 */
import type { Group, StepClock } from './comm/index.js';
import type { Batch, DataLoader } from './data/loader.js';
import { mixupCutmix } from './data/mixup.js';
import type { Sampler } from './data/sampler.js';
import { ExitCode } from '../api/names.js';
import { RingmasterError } from '../common/errors.js';
import { sumOverRanks } from './evaluate.js';
import { accuracyFromCounts, addCounts, type TopkCounts } from './optim/metrics.js';
import { lrAtEpoch } from './optim/schedule.js';
import type { Recipe } from '../api/schema.js';
import type { EpochMetrics } from './report/metrics-log.js';
import type { Reporter } from './report/reporter.js';
import { Rng } from './rng.js';
import { distributedStep, type StepResult } from './step.js';
import type { TrainState } from './train-state.js';
import { accumulatedStep } from './elastic/accumulated-step.js';
import type { VirtualRanks } from './elastic/virtual-ranks.js';

/** Raised when the group agreed to stop (Ctrl-C / SIGTERM) after writing a checkpoint. */
export class StoppedError extends RingmasterError {
  override readonly exitCode = ExitCode.interrupted;
}

/** Salt for the mixup/cutmix stream, so it never coincides with the augmentation streams. */
const MIX_STREAM = 0x6d1c;

export interface EpochLoop {
  recipe: Readonly<Recipe>;
  state: TrainState;
  group: Group;
  loader: DataLoader;
  /** One per original rank run here (vranks.ranks order). */
  samplers: readonly Sampler[];
  /** The original ranks this process runs (one, unless the group is smaller than spec.workers). */
  vranks: VirtualRanks;
  itersPerEpoch: number;
  /** Set by a signal handler; the ranks agree on it at the next step. */
  stop: { requested: boolean };
  reporter: Reporter;
  /** All-reduce gradient buckets during the backward pass (step.ts). */
  overlap: boolean;
  /** Saves a checkpoint after `stepInEpoch` steps of `epoch`. */
  checkpoint(epoch: number, stepInEpoch: number): Promise<void>;
  /** After an epoch's evaluation: keeps the epoch's weights when they are the best so far. */
  keepBest(row: EpochMetrics, history: readonly EpochMetrics[]): Promise<void>;
  /** This rank's step clock: the coordinator watches it for hangs and stragglers. */
  clock: StepClock;
}

export interface EpochResult {
  /** Mean over the steps of the loss averaged over the ranks. */
  loss: number;
  /** Percent, over every rank's samples of the steps run. */
  acc1: number;
  acc5: number;
  /** Images per second over all ranks. */
  imagesPerSec: number;
}

export async function trainOneEpoch(
  loop: EpochLoop,
  epoch: number,
  firstStep: number,
): Promise<EpochResult> {
  const { recipe, state, group } = loop;
  const lr = lrAtEpoch(recipe, epoch);
  loop.reporter.epochStarted();
  const started = Date.now();
  const { vranks } = loop;
  // One stream of batches per original rank, exactly as that rank would have read them.
  const streams = vranks.ranks.map((rank, j) =>
    loop.loader.epoch({
      epoch,
      indices: loop.samplers[j]!.indices(epoch),
      batchSize: recipe.batchSize,
      seed: recipe.seed,
      rank,
      worldSize: vranks.logicalWorkers,
      startStep: firstStep,
    }),
  );
  const batches = lockstep(streams);
  let lossSum = 0;
  let steps = 0;
  let counts: TopkCounts = { correct1: 0, correct5: 0, count: 0 };
  const { clock, itersPerEpoch } = loop;
  clock.startTraining(epoch * itersPerEpoch + firstStep);
  let stepStart = performance.now();
  try {
    for await (const parts of batches) {
      const batch = parts[0]!;
      const B = parts.reduce((n, p) => n + p.labels.length, 0);
      const shared = new Float32Array([loop.stop.requested ? 1 : 0]);
      const step = await oneStep(loop, epoch, lr, parts, shared);
      const now = performance.now();
      const wallMs = now - stepStart;
      stepStart = now;
      clock.stepped(epoch * itersPerEpoch + batch.step + 1, wallMs - step.reduceMs, wallMs);
      const at = {
        epoch,
        stepInEpoch: batch.step,
        modelEmaSteps: recipe.modelEmaSteps,
        lrWarmupEpochs: recipe.lrWarmupEpochs,
      };
      state.ema?.afterStep(at, state.model.params, state.model.buffers);
      vranks.emaAfterStep(at);
      lossSum += step.loss;
      steps += 1;
      counts = addCounts(counts, step.counts);
      await loop.reporter.step(epoch, batch.step + 1, B, step.loss, lr);
      await checkpointOrStop(loop, epoch, batch.step + 1, shared[0]! > 0);
      // A checkpoint's time is not the next step's.
      stepStart = performance.now();
    }
  } finally {
    await Promise.all(streams.map((b) => b.return(undefined)));
  }
  const seconds = (Date.now() - started) / 1000;
  const all = await sumOverRanks(group, counts);
  return {
    loss: steps ? lossSum / steps : NaN,
    ...accuracyFromCounts(all),
    imagesPerSec: seconds > 0 ? all.count / seconds : 0,
  };
}

/** Mixup/cutmix per original rank (its own keyed stream), then the data-parallel step. */
async function oneStep(
  loop: EpochLoop,
  epoch: number,
  lr: number,
  parts: readonly Batch[],
  shared: Float32Array,
): Promise<StepResult> {
  const { recipe, state, group, vranks, clock } = loop;
  const micro = parts.map((batch, j) => {
    const mixed = mixupCutmix(
      batch.images,
      batch.labels,
      state.model.numClasses,
      // The loader's batch buffer is ours: mix in place.
      { mixupAlpha: recipe.mixupAlpha, cutmixAlpha: recipe.cutmixAlpha, inPlace: true },
      new Rng(recipe.seed, MIX_STREAM, epoch, batch.step, vranks.ranks[j]!),
      batch.height,
      batch.width,
      3,
    );
    return {
      images: mixed.images,
      targets: mixed.targets,
      batch: batch.labels.length,
      height: batch.height,
      width: batch.width,
    };
  });
  const common = {
    model: state.model,
    sgd: state.sgd,
    group,
    labelSmoothing: recipe.labelSmoothing,
    lr,
    shared,
    onGradientsReady: () => clock.gradientsReady(),
  };
  if (vranks.k > 1) return accumulatedStep({ ...common, vranks, micro });
  return distributedStep({ ...common, ...micro[0]!, overlap: loop.overlap });
}

/** The k streams' batches of one step together (they have the same number of steps). */
async function* lockstep(
  streams: readonly AsyncGenerator<Batch, void, undefined>[],
): AsyncGenerator<Batch[], void, undefined> {
  for (;;) {
    const next = await Promise.all(streams.map((s) => s.next()));
    if (next.some((n) => n.done)) return;
    yield next.map((n) => n.value as Batch);
  }
}

/** After step `done` (1-based): a checkpoint when one is due; when any rank asked to stop, a
 * checkpoint where we are and StoppedError. */
async function checkpointOrStop(
  loop: EpochLoop,
  epoch: number,
  done: number,
  stopAgreed: boolean,
): Promise<void> {
  const { itersPerEpoch } = loop;
  if (stopAgreed) {
    if (done < itersPerEpoch) await loop.checkpoint(epoch, done);
    else await loop.checkpoint(epoch + 1, 0);
    throw new StoppedError(`stopped on request at epoch ${epoch + 1}, step ${done}`);
  }
  const every = loop.recipe.checkpointEverySteps;
  if (every > 0 && done % every === 0 && done < itersPerEpoch) await loop.checkpoint(epoch, done);
}
