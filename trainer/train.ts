/**
 * The recipe's training run, one process per rank — torchvision's references/classification
 * train.py `main`, distributed over a ring:
 *
 *   data, group, model → resume (or rank 0's initial weights)
 *   for epoch: trainOneEpoch → evaluate(model), evaluate(EMA) → metrics → best weights → checkpoint
 *   at the end: the weights artifact (EMA weights + meta.json) and report.html
 *
 * The pieces live in files named after them: train-one-epoch.ts, evaluate.ts,
 * checkpoint/checkpointer.ts, train-state.ts, report/reporter.ts, publish.ts.
 * Every rank holds the same parameters (initial weights broadcast from rank 0, gradients
 * averaged by all-reduce); BatchNorm statistics stay per rank, as in the recipe (no SyncBN).
 * All randomness is keyed by (seed, epoch, step, rank, sample), so a resumed run takes the
 * same draws as an uninterrupted one.
 */
import { CheckpointStore } from './checkpoint/store.js';
import { Checkpointer, type Resumed } from './checkpoint/checkpointer.js';
import { StepClock, type Group } from './comm/index.js';
import { connectWorkerGroup } from './worker-group.js';
import { stepsPerEpoch } from './data/epoch-length.js';
import { DataLoader } from './data/loader.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './data/transforms/normalize.js';
import { resolveDataUri } from './data/resolve.js';
import { recipeSamplers } from './data/sampler.js';
import { transformConfigFromRecipe } from './data/transforms/presets.js';
import { describeBackend, initBackend } from './engine/backend.js';
import { evaluate, type EvalData } from './evaluate.js';
import type { RunSummary } from './local/messages.js';
import type { Logger } from '../common/log.js';
import { countParams, getArch } from './models/arch.js';
import { lrAtEpoch } from './optim/schedule.js';
import { recipeHash, trainData as trainDataUri } from '../api/load.js';
import type { TrainingRecipeSpec } from '../api/schema.js';
import { MetricsLog, type EpochMetrics } from './report/metrics-log.js';
import { announceBackend, Reporter } from './report/reporter.js';
import { publishRun, writeBestWeights } from './publish.js';
import { bestMetricOf, isNewBest } from './best.js';
import { GoodputLedger } from './report/goodput.js';
import { openStorage } from '../common/storage/storage.js';
import { trainOneEpoch, type EpochLoop } from './train-one-epoch.js';
import { describeThreadPlan, planWorkerThreads, type ThreadPlan } from './thread-plan.js';
import { TrainState } from './train-state.js';
import { VirtualRanks } from './elastic/virtual-ranks.js';
import type { WorkerConfig } from './worker-config.js';

export interface TrainOptions {
  cfg: Readonly<WorkerConfig>;
  spec: Readonly<TrainingRecipeSpec>;
  log: Logger;
  /** Set by a signal handler; the ranks agree on it at the next step and stop cleanly. */
  stop: { requested: boolean };
  /** Decode threads per rank (`--loader-threads`); beats RINGMASTER_LOADER_WORKERS and the spec. */
  loaderThreads?: number | undefined;
}

export async function train(opts: TrainOptions): Promise<RunSummary> {
  const started = Date.now();
  const { cfg, spec } = opts;
  const log = opts.log.child({ rank: cfg.rank });
  // First, before anything slow: how this worker spends its cores.
  const plan = planWorkerThreads({
    cgroupRoot: cfg.cgroupRoot,
    cpuRequestMillicores: cfg.cpuRequestMillicores,
    computeThreads: cfg.computeThreads,
    gpu: spec.gpusPerWorker > 0,
    batchSize: spec.recipe.batchSize,
    loaderWorkers: opts.loaderThreads ?? cfg.loaderWorkers ?? spec.dataLoader?.workers,
    prefetchBatches: cfg.prefetchBatches ?? spec.dataLoader?.prefetchBatches,
  });
  log.info({ ...plan }, describeThreadPlan(plan));
  const threads = plan.computeThreads;
  const backend = await initBackend(cfg.backend, { threads });
  const backendLine = describeBackend(backend);
  log.info({ backend: backend.name, fellBackFrom: backend.fellBackFrom, threads }, backendLine);
  announceBackend(`${backendLine}\n${describeThreadPlan(plan)}`, cfg.rank);

  const openSplit = async (uri: string, split: 'train' | 'val') =>
    DataLoader.create({
      storage: openStorage(
        await resolveDataUri(uri, split, { cacheDir: cfg.cacheDir }),
        cfg.storage,
      ),
      transform: {
        kind: 'preset',
        config: transformConfigFromRecipe(spec.recipe, split === 'train' ? 'train' : 'eval'),
      },
      workers: plan.loaderWorkers,
      prefetch: plan.prefetchBatches,
    });
  const trainData = await openSplit(trainDataUri(spec), 'train');
  const valData = await openSplit(spec.data.val, 'val');
  const clock = new StepClock();
  const group = await connectWorkerGroup(cfg, log, clock);
  const overlap = overlapAllReduce(cfg.overlapAllReduce, backend.name);
  if (group.worldSize > 1) {
    log.info(
      { overlapAllReduce: overlap, setting: cfg.overlapAllReduce },
      overlap
        ? 'gradients all-reduced in buckets during the backward pass'
        : 'gradients all-reduced after the backward pass',
    );
  }
  try {
    return await run({
      ...opts,
      log,
      backend: backend.name,
      overlap,
      plan,
      group,
      clock,
      trainData,
      valData,
      started,
    });
  } finally {
    await group.close();
    await trainData.close();
    await valData.close();
  }
}

interface Opened extends TrainOptions {
  backend: string;
  overlap: boolean;
  plan: ThreadPlan;
  group: Group;
  clock: StepClock;
  trainData: DataLoader;
  valData: DataLoader;
  started: number;
}

async function run(o: Opened): Promise<RunSummary> {
  const { spec, group } = o;
  const p = prepare(o);
  try {
    const resumed = atNewGlobalBatch(o, await p.checkpointer.resume(), p.itersPerEpoch);
    const metrics = new MetricsLog(p.out, resumed?.history ?? []);
    const resumedStep = resumed ? resumed.epoch * p.itersPerEpoch + resumed.stepInEpoch : 0;
    const goodput = await GoodputLedger.open(p.out, resumedStep, recipeHash(spec.recipe));
    if (goodput.stepsLost > 0 && group.rank === 0) {
      o.log.warn(
        { stepsLost: goodput.stepsLost, resumedStep },
        'the previous group computed steps past its last checkpoint: they are computed again',
      );
    }
    const reporter = new Reporter({
      rank: group.rank,
      worldSize: group.worldSize,
      recipe: spec.recipe,
      itersPerEpoch: p.itersPerEpoch,
      out: p.out,
      metrics,
      checkpoints: p.checkpointer,
      group,
      goodput,
      threads: o.plan,
      log: o.log,
    });
    if (resumed) reporter.resumed(resumed.name, resumed.epoch, resumed.stepInEpoch);
    const loop: EpochLoop = {
      recipe: spec.recipe,
      state: p.state,
      group,
      loader: o.trainData,
      samplers: p.trainSamplers,
      vranks: p.vranks,
      itersPerEpoch: p.itersPerEpoch,
      stop: o.stop,
      reporter,
      clock: o.clock,
      checkpoint: async (epoch, step) => {
        // Writing a checkpoint is not a hang, however long it takes.
        const wasTraining = o.clock.pause();
        await reporter.pausing(epoch, step, 'checkpointing');
        await p.checkpointer.save(epoch, step, metrics.history);
        await reporter.checkpointed(epoch, step, wasTraining);
        warnIfGraceTooShort(o, p.checkpointer.lastSaveSeconds);
        if (wasTraining) o.clock.resume();
      },
      overlap: o.overlap,
      keepBest: async (row, history) => {
        if (group.rank !== 0 || !isNewBest(history, row, bestMetricOf(spec.recipe).metric)) return;
        await writeBestWeights({
          out: p.out,
          arch: p.arch,
          recipe: spec.recipe,
          state: p.state,
          categories: o.trainData.classes,
          row,
          // The epoch's checkpoint is written after this; meta.json names the epoch instead.
          checkpoint: null,
        });
      },
    };
    await trainEpochs(loop, p.val, metrics, resumed ?? { epoch: 0, stepInEpoch: 0 });

    let published: { weights: string | null; report: string | null } = {
      weights: null,
      report: null,
    };
    if (group.rank === 0) {
      published = await publishRun({
        out: p.out,
        output: spec.output,
        arch: p.arch,
        recipe: spec.recipe,
        state: p.state,
        categories: o.trainData.classes,
        history: metrics.history,
        lastCheckpoint: p.checkpointer.last,
        workers: group.worldSize,
        backend: o.backend,
      });
      await reporter.published(published.weights);
    }
    await group.barrier();
    const seconds = (Date.now() - o.started) / 1000;
    return reporter.done({ ...published, epochs: spec.recipe.epochs, seconds });
  } finally {
    p.vranks.dispose();
    p.state.dispose();
  }
}

/** torchvision's `for epoch in range(args.start_epoch, args.epochs)`. */
async function trainEpochs(
  loop: EpochLoop,
  val: EvalData,
  metrics: MetricsLog,
  start: { epoch: number; stepInEpoch: number },
): Promise<void> {
  const { recipe, state, group, reporter } = loop;
  for (let epoch = start.epoch; epoch < recipe.epochs; epoch++) {
    const t0 = Date.now();
    const trained = await trainOneEpoch(loop, epoch, epoch === start.epoch ? start.stepInEpoch : 0);
    loop.clock.pause();
    await reporter.pausing(epoch, loop.itersPerEpoch, 'evaluating');
    const { vranks } = loop;
    const evalModel = await evaluate(val, state.model, (j, fn) =>
      vranks.withRankAsync(j, state.model, fn),
    );
    const averaged = state.averaged();
    const evalEma = averaged
      ? await evaluate(val, averaged, (j, fn) => vranks.withEmaRank(j, averaged, fn))
      : null;
    const row: EpochMetrics = {
      epoch,
      lr: lrAtEpoch(recipe, epoch),
      trainLoss: trained.loss,
      trainAcc1: trained.acc1,
      trainAcc5: trained.acc5,
      imagesPerSec: trained.imagesPerSec,
      seconds: (Date.now() - t0) / 1000,
      acc1: evalModel.acc1,
      acc5: evalModel.acc5,
      emaAcc1: evalEma?.acc1 ?? null,
      emaAcc5: evalEma?.acc5 ?? null,
      evalBiased: evalModel.biased,
    };
    // Every rank keeps the history (it goes into checkpoints); rank 0 writes the file.
    await metrics.append(row, group.rank === 0);
    await loop.keepBest(row, metrics.history);
    reporter.epoch(row);
    await loop.checkpoint(epoch + 1, 0);
    await reporter.epochBoundary(epoch + 1);
  }
}

/**
 * A checkpoint written with another spec.workers (the user changed it: the global batch
 * changes, docs/elastic.md). At an epoch boundary the run goes on exactly with the new batch;
 * mid-epoch the samplers of the two world sizes deal the epoch differently, so it continues at
 * the same fraction of the epoch — the rest of that epoch is not the old run's sample set.
 * (Resizes under runPolicy.elastic never get here: they keep spec.workers.)
 */
function atNewGlobalBatch(
  o: Opened,
  resumed: Resumed | null,
  itersPerEpoch: number,
): Resumed | null {
  if (!resumed || resumed.logicalWorkers === o.spec.workers) return resumed;
  const from = resumed.logicalWorkers;
  let { epoch, stepInEpoch } = resumed;
  if (stepInEpoch > 0) {
    stepInEpoch = Math.floor((stepInEpoch * itersPerEpoch) / resumed.itersPerEpoch);
    if (stepInEpoch >= itersPerEpoch) {
      epoch += 1;
      stepInEpoch = 0;
    }
  }
  if (o.group.rank === 0) {
    o.log.warn(
      { fromWorkers: from, toWorkers: o.spec.workers, epoch, stepInEpoch },
      `spec.workers changed from ${from} to ${o.spec.workers}: the global batch changes from ` +
        `${from * o.spec.recipe.batchSize} to ${o.spec.workers * o.spec.recipe.batchSize}` +
        (resumed.stepInEpoch > 0
          ? `; mid-epoch, so the run goes on at step ${stepInEpoch} of ${itersPerEpoch} (same fraction of the epoch)`
          : ''),
    );
  }
  return { ...resumed, epoch, stepInEpoch };
}

/**
 * On SIGTERM the group finishes its step and rank 0 writes a checkpoint before the pod's
 * grace period ends; say so early when the measured write does not fit (the previous
 * checkpoint stays intact if the kill comes first: store.ts writes latest.json last).
 */
function warnIfGraceTooShort(o: Opened, saveSeconds: number | null): void {
  const grace = o.cfg.terminationGraceSeconds;
  if (!grace || saveSeconds === null || o.group.rank !== 0) return;
  if (saveSeconds > 0.8 * grace) {
    o.log.warn(
      { checkpointSeconds: saveSeconds, terminationGracePeriodSeconds: grace },
      'a checkpoint takes most of the termination grace period: on preemption it may not finish ' +
        '(raise spec.runPolicy.terminationGracePeriodSeconds)',
    );
  }
}

/** The samplers, the model and optimizer, the checkpointer: what the epochs need. */
function prepare(o: Opened) {
  const { cfg, spec, log, group, trainData, valData } = o;
  const recipe = spec.recipe;
  const arch = getArch(recipe.model);
  const numClasses = trainData.classes.length;
  // spec.workers is the logical world size (global batch = workers × batchSize); a smaller
  // group runs workers / worldSize original ranks per process (docs/elastic.md).
  const vranks = new VirtualRanks(spec.workers, group.worldSize, group.rank);
  const perRank = vranks.ranks.map((rank) =>
    recipeSamplers(recipe, {
      trainSamples: trainData.numSamples,
      valSamples: valData.numSamples,
      rank,
      worldSize: spec.workers,
    }),
  );
  const trainSamplers = perRank.map((s) => s.train);
  const trainSampler = trainSamplers[0]!;
  const itersPerEpoch = stepsPerEpoch(trainSampler.numSamples, recipe.batchSize);
  const { batchSize, seed } = recipe;
  const val: EvalData = {
    loader: valData,
    samplers: perRank.map((s) => s.val),
    ranks: vranks.ranks,
    logicalWorkers: spec.workers,
    group,
    batchSize,
    seed,
  };
  const state = new TrainState(arch, numClasses, recipe, spec.workers);
  const out = openStorage(spec.output, cfg.storage);
  const checkpointer = new Checkpointer({
    store: new CheckpointStore(out, log),
    group,
    state,
    recipeHash: recipeHash(recipe),
    allowRecipeChange: cfg.allowRecipeChange,
    backend: o.backend,
    itersPerEpoch,
    vranks,
    categories: trainData.classes,
    keep: recipe.keepCheckpoints,
    bestMetric: bestMetricOf(recipe).metric,
    inference: {
      arch: arch.name,
      transforms: {
        resizeSize: recipe.valResizeSize,
        cropSize: recipe.valCropSize,
        interpolation: recipe.interpolation,
        mean: IMAGENET_MEAN,
        std: IMAGENET_STD,
      },
    },
    log,
  });
  log.info(
    {
      model: arch.name,
      params: countParams(arch, numClasses),
      numClasses,
      trainSamples: trainData.numSamples,
      valSamples: valData.numSamples,
      samplesPerRank: trainSampler.numSamples,
      itersPerEpoch,
      logicalWorkers: spec.workers,
      originalRanks: vranks.ranks,
      accumulationSteps: vranks.k,
      emaDecay: state.emaDecay,
    },
    'training plan',
  );
  const evaluated = val.samplers[0]!.numSamples * spec.workers;
  if (evaluated > valData.numSamples && group.rank === 0) {
    log.warn(
      { evaluated, samples: valData.numSamples },
      'validation padding: ranks evaluate more samples than the split has, so the accuracy is slightly biased',
    );
  }
  return { arch, trainSamplers, vranks, itersPerEpoch, val, state, out, checkpointer };
}

/**
 * Whether gradients are all-reduced during the backward pass. 'auto': on a GPU, where the
 * device computes while this thread serves the ring; off on CPU backends, where the ring's
 * work only moves between backward kernels on the same cores (bench:step-overlap, ADR 0090).
 */
function overlapAllReduce(setting: 'on' | 'off' | 'auto', backend: string): boolean {
  return setting === 'auto' ? backend === 'tensorflow-gpu' : setting === 'on';
}
