/**
 * The recipe's training loop, one process per rank — torchvision's references/classification
 * train.py, distributed over a gRPC ring:
 *
 *   for epoch: sampler(epoch) → train_one_epoch → lr step → evaluate(model), evaluate(EMA)
 *              → checkpoint (rank 0 writes; every rank adds its own BatchNorm buffers)
 *   at the end: the weights artifact (EMA weights + meta.json)
 *
 * Every rank holds the same parameters (initial weights broadcast from rank 0, gradients
 * averaged by all-reduce); BatchNorm statistics stay per rank, as in the recipe (no SyncBN).
 * All randomness is keyed by (seed, epoch, step, rank, sample), so a resumed run takes the
 * same draws as an uninterrupted one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { connectGroup, type Group } from './comm/index.js';
import {
  CheckpointStore,
  type Checkpoint,
  type FileEntry,
  type LatestPointer,
} from './checkpoint/store.js';
import { decodeTensors, encodeTensors, type NamedTensors } from './checkpoint/tensors.js';
import { writeWeights } from './checkpoint/weights.js';
import { DataLoader } from './data/loader.js';
import { resolveDataUri } from './data/resolve.js';
import { mixupCutmix } from './data/mixup.js';
import { samplerFor, samplerKindFor, type Sampler } from './data/sampler.js';
import { transformConfigFromRecipe } from './data/transforms/presets.js';
import { initBackend } from './engine/backend.js';
import { ExitCode, RingmasterError } from './errors.js';
import { distributedStep } from './step.js';
import { sendToLauncher, type RunSummary } from './local/messages.js';
import type { Logger } from './log.js';
import { countMacs, countParams, getArch } from './models/arch.js';
import { createResNet, type ResNetModel } from './models/resnet.js';
import { decodeSafetensors } from './models/safetensors.js';
import { loadStateDict, stateDict } from './models/weights.js';
import { encodeSafetensors } from './models/safetensors.js';
import { emaDecay } from './optim/ema-decay.js';
import { ModelEma } from './optim/ema.js';
import { accuracyFromCounts, addCounts, topk, type TopkCounts } from './optim/metrics.js';
import { lrAtEpoch } from './optim/schedule.js';
import { paramGroups, SGD } from './optim/sgd.js';
import { recipeHash } from './recipe/load.js';
import type { Recipe, TrainingRecipeSpec } from './recipe/schema.js';
import { renderReport } from './report/html.js';
import { MetricsLog, type EpochMetrics } from './report/metrics-log.js';
import { ProgressFile } from './report/progress.js';
import { Rng } from './rng.js';
import { openStorage, type Storage } from './storage/storage.js';
import type { WorkerConfig } from './worker-config.js';

/** Raised when the group agreed to stop (Ctrl-C / SIGTERM) after writing a checkpoint. */
export class StoppedError extends RingmasterError {
  override readonly exitCode = ExitCode.interrupted;
}

export interface TrainOptions {
  cfg: Readonly<WorkerConfig>;
  spec: Readonly<TrainingRecipeSpec>;
  log: Logger;
  /** Set by a signal handler; the ranks agree on it at the next step and stop cleanly. */
  stop: { requested: boolean };
  /** Decode threads per rank. */
  loaderThreads?: number;
}

/** Salt for the mixup/cutmix stream, so it never coincides with the augmentation streams. */
const MIX_STREAM = 0x6d1c;

interface Run {
  cfg: Readonly<WorkerConfig>;
  recipe: Readonly<Recipe>;
  spec: Readonly<TrainingRecipeSpec>;
  log: Logger;
  group: Group;
  model: ResNetModel;
  emaModel: ResNetModel | null;
  ema: ModelEma | null;
  sgd: SGD;
  train: DataLoader;
  val: DataLoader;
  trainSampler: Sampler;
  valSampler: Sampler;
  itersPerEpoch: number;
  out: Storage;
  store: CheckpointStore;
  progress: ProgressFile | null;
  metrics: MetricsLog;
  hash: string;
  backend: string;
  stop: { requested: boolean };
  loaderThreads: number;
  lastCheckpoint: string | null;
}

export async function train(opts: TrainOptions): Promise<RunSummary> {
  const started = Date.now();
  const { cfg, spec } = opts;
  const recipe = spec.recipe;
  const log = opts.log.child({ rank: cfg.rank });
  const backend = await initBackend(cfg.backend);
  log.info({ backend: backend.name, fellBackFrom: backend.fellBackFrom }, 'compute backend');

  const openSplit = async (uri: string, split: 'train' | 'val') =>
    DataLoader.create({
      storage: openStorage(
        await resolveDataUri(uri, split, { cacheDir: cfg.cacheDir }),
        cfg.storage,
      ),
      transform: {
        kind: 'preset',
        config: transformConfigFromRecipe(recipe, split === 'train' ? 'train' : 'eval'),
      },
      workers: opts.loaderThreads ?? 1,
    });
  const trainData = await openSplit(spec.data.train, 'train');
  const valData = await openSplit(spec.data.val, 'val');
  const numClasses = trainData.index.classes.length;

  const group = await connectGroup({
    rank: cfg.rank,
    worldSize: cfg.worldSize,
    coordinator: cfg.coordinator,
    listen: cfg.listen,
    advertise: cfg.advertise,
    transport: cfg.transport,
    ...(cfg.dataListen ? { dataListen: cfg.dataListen } : {}),
    token: cfg.token,
    generation: cfg.generation,
    deadlines: { rendezvousMs: cfg.rendezvousTimeoutMs, opMs: cfg.opTimeoutMs },
    logger: log,
  });

  try {
    const arch = getArch(recipe.model);
    const model = createResNet(arch, { numClasses, seed: recipe.seed });
    const decay = emaDecay(recipe, cfg.worldSize);
    const ema = decay === null ? null : new ModelEma(decay);
    const emaModel = ema ? createResNet(arch, { numClasses, seed: recipe.seed }) : null;
    const sgd = new SGD(
      paramGroups(model.params.keys(), (n) => model.isNormParam(n), {
        weightDecay: recipe.weightDecay,
        normWeightDecay: recipe.normWeightDecay,
      }),
      { momentum: recipe.momentum },
    );
    const trainSampler = samplerFor(
      samplerKindFor('train', cfg.worldSize, recipe.raSampler ? recipe.raReps : 0),
      {
        n: trainData.index.numSamples,
        rank: cfg.rank,
        worldSize: cfg.worldSize,
        seed: recipe.seed,
        reps: recipe.raReps,
      },
    );
    const valSampler = samplerFor(samplerKindFor('val', cfg.worldSize, 0), {
      n: valData.index.numSamples,
      rank: cfg.rank,
      worldSize: cfg.worldSize,
      shuffle: false,
    });
    const out = openStorage(spec.output, cfg.storage);
    const run: Run = {
      cfg,
      recipe,
      spec,
      log,
      group,
      model,
      emaModel,
      ema,
      sgd,
      train: trainData,
      val: valData,
      trainSampler,
      valSampler,
      itersPerEpoch: Math.ceil(trainSampler.numSamples / recipe.batchSize),
      out,
      store: new CheckpointStore(out, log),
      progress: cfg.rank === 0 ? new ProgressFile(out) : null,
      metrics: new MetricsLog(out),
      hash: recipeHash(recipe),
      backend: backend.name,
      stop: opts.stop,
      loaderThreads: opts.loaderThreads ?? 1,
      lastCheckpoint: null,
    };
    log.info(
      {
        model: arch.name,
        params: countParams(arch, numClasses),
        numClasses,
        trainSamples: trainData.index.numSamples,
        valSamples: valData.index.numSamples,
        samplesPerRank: trainSampler.numSamples,
        itersPerEpoch: run.itersPerEpoch,
        emaDecay: decay,
      },
      'training plan',
    );

    const start = await resumeOrBroadcast(run);
    for (let epoch = start.epoch; epoch < recipe.epochs; epoch++) {
      const firstStep = epoch === start.epoch ? start.stepInEpoch : 0;
      const t0 = Date.now();
      const trained = await trainOneEpoch(run, epoch, firstStep);
      const evalModel = await evaluate(run, model);
      let evalEma: EvalResult | null = null;
      if (ema && emaModel && ema.params.size > 0) {
        copyEmaInto(ema, emaModel);
        evalEma = await evaluate(run, emaModel);
      }
      const seconds = (Date.now() - t0) / 1000;
      const row: EpochMetrics = {
        epoch,
        lr: lrAtEpoch(recipe, epoch),
        trainLoss: trained.loss,
        trainAcc1: trained.acc1,
        imagesPerSec: trained.imagesPerSec,
        seconds,
        acc1: evalModel.acc1,
        acc5: evalModel.acc5,
        emaAcc1: evalEma?.acc1 ?? null,
        emaAcc5: evalEma?.acc5 ?? null,
        evalBiased: evalModel.biased,
      };
      // Every rank keeps the history (it goes into checkpoints); rank 0 writes the file.
      await run.metrics.append(row, cfg.rank === 0);
      log.info(row, 'epoch done');
      sendToLauncher({ type: 'epoch', metrics: row }, cfg.rank);
      await checkpoint(run, epoch + 1, 0);
      await reportProgress(run, epoch + 1, 0, null, true);
    }

    const last = run.metrics.history.at(-1) ?? null;
    let weightsUri: string | null = null;
    let reportUri: string | null = null;
    if (cfg.rank === 0) {
      const source = ema && ema.params.size > 0 && emaModel ? emaModel : model;
      if (ema && emaModel) copyEmaInto(ema, emaModel);
      weightsUri = await writeWeights(out, {
        model: source,
        recipe,
        categories: trainData.index.classes,
        metrics: last,
        arch,
        gflops: {
          train: countMacs(arch, recipe.trainCropSize, numClasses) / 1e9,
          val: countMacs(arch, recipe.valCropSize, numClasses) / 1e9,
        },
        checkpoint: run.lastCheckpoint,
        ema: source !== model,
      });
      await out.put(
        'report.html',
        Buffer.from(
          renderReport(run.metrics.history, {
            title: `Ringmaster run: ${arch.name}`,
            facts: {
              model: arch.name,
              workers: cfg.worldSize,
              'batch per worker': recipe.batchSize,
              'global batch': recipe.batchSize * cfg.worldSize,
              epochs: recipe.epochs,
              backend: backend.name,
              output: spec.output,
            },
          }),
        ),
        { contentType: 'text/html' },
      );
      reportUri = out.uriOf('report.html');
      await run.progress?.update(
        {
          phase: 'done',
          epoch: recipe.epochs,
          epochs: recipe.epochs,
          step: run.itersPerEpoch * recipe.epochs,
          totalSteps: run.itersPerEpoch * recipe.epochs,
          imagesPerSec: last?.imagesPerSec ?? 0,
          etaSeconds: 0,
          loss: last?.trainLoss ?? null,
          lr: last?.lr ?? 0,
          metrics: metricsOf(last),
          lastCheckpoint: run.lastCheckpoint,
          weights: weightsUri,
        },
        true,
      );
    }
    await group.barrier();
    const summary: RunSummary = {
      ...metricsOf(last),
      weights: weightsUri,
      report: reportUri,
      epochs: recipe.epochs,
      seconds: (Date.now() - started) / 1000,
    };
    sendToLauncher({ type: 'done', summary }, cfg.rank);
    model.dispose();
    emaModel?.dispose();
    ema?.dispose();
    sgd.dispose();
    return summary;
  } finally {
    await group.close();
    await trainData.close();
    await valData.close();
  }
}

// ---------------------------------------------------------------------------------------------
// One epoch of training

interface EpochResult {
  loss: number;
  acc1: number | null;
  imagesPerSec: number;
}

async function trainOneEpoch(run: Run, epoch: number, firstStep: number): Promise<EpochResult> {
  const { recipe, model, group, cfg } = run;
  const lr = lrAtEpoch(recipe, epoch);
  const numClasses = model.numClasses;
  const loader = run.train.epoch({
    epoch,
    indices: run.trainSampler.indices(epoch),
    batchSize: recipe.batchSize,
    seed: recipe.seed,
    rank: cfg.rank,
    worldSize: cfg.worldSize,
    startStep: firstStep,
  });
  let lossSum = 0;
  let lossCount = 0;
  let images = 0;
  const t0 = Date.now();
  let tLast = t0;
  let smoothedRate = 0;
  try {
    for await (const batch of loader) {
      const step = batch.step;
      const B = batch.labels.length;
      const [H, W] = [batch.height, batch.width];
      const mixed = mixupCutmix(
        batch.images,
        batch.labels,
        numClasses,
        // The loader's batch buffer is ours: mix in place.
        { mixupAlpha: recipe.mixupAlpha, cutmixAlpha: recipe.cutmixAlpha, inPlace: true },
        new Rng(recipe.seed, MIX_STREAM, epoch, step, cfg.rank),
        H,
        W,
        3,
      );
      const shared = new Float32Array([run.stop.requested ? 1 : 0]);
      const { loss } = await distributedStep({
        model,
        sgd: run.sgd,
        group: cfg.worldSize > 1 ? group : null,
        images: mixed.images,
        targets: mixed.targets,
        batch: B,
        height: H,
        width: W,
        labelSmoothing: recipe.labelSmoothing,
        lr,
        shared,
      });

      if (run.ema) {
        run.ema.afterStep(
          {
            epoch,
            stepInEpoch: step,
            modelEmaSteps: recipe.modelEmaSteps,
            lrWarmupEpochs: recipe.lrWarmupEpochs,
          },
          model.params,
          model.buffers,
        );
      }

      lossSum += loss;
      lossCount += 1;
      images += B * cfg.worldSize;
      const now = Date.now();
      const rate = (B * cfg.worldSize * 1000) / Math.max(1, now - tLast);
      smoothedRate = smoothedRate === 0 ? rate : 0.9 * smoothedRate + 0.1 * rate;
      tLast = now;
      const done = step + 1;
      const remainingImages =
        (run.itersPerEpoch - done + (recipe.epochs - epoch - 1) * run.itersPerEpoch) *
        recipe.batchSize *
        cfg.worldSize;
      const eta = smoothedRate > 0 ? remainingImages / smoothedRate : null;
      sendToLauncher(
        {
          type: 'progress',
          epoch,
          epochs: recipe.epochs,
          step: done,
          steps: run.itersPerEpoch,
          loss,
          lr,
          imagesPerSec: smoothedRate,
          etaSeconds: eta,
        },
        cfg.rank,
      );
      await reportProgress(run, epoch, done, { loss, rate: smoothedRate, eta }, false);

      if (shared[0]! > 0) {
        // Someone asked to stop: checkpoint where we are, then leave.
        if (done < run.itersPerEpoch) await checkpoint(run, epoch, done);
        else await checkpoint(run, epoch + 1, 0);
        throw new StoppedError(`stopped on request at epoch ${epoch + 1}, step ${done}`);
      }
      const every = recipe.checkpointEverySteps;
      if (every > 0 && done % every === 0 && done < run.itersPerEpoch) {
        await checkpoint(run, epoch, done);
      }
    }
  } finally {
    await loader.return(undefined);
  }
  const seconds = (Date.now() - t0) / 1000;
  return {
    loss: lossCount ? lossSum / lossCount : NaN,
    acc1: null,
    imagesPerSec: seconds > 0 ? images / seconds : 0,
  };
}

async function reportProgress(
  run: Run,
  epoch: number,
  step: number,
  live: { loss: number; rate: number; eta: number | null } | null,
  force: boolean,
): Promise<void> {
  if (!run.progress) return;
  const last = run.metrics.history.at(-1);
  await run.progress.update(
    {
      phase: 'training',
      epoch,
      epochs: run.recipe.epochs,
      step: epoch * run.itersPerEpoch + step,
      totalSteps: run.recipe.epochs * run.itersPerEpoch,
      imagesPerSec: live?.rate ?? last?.imagesPerSec ?? 0,
      etaSeconds: live?.eta ?? null,
      loss: live?.loss ?? last?.trainLoss ?? null,
      lr: lrAtEpoch(run.recipe, Math.min(epoch, run.recipe.epochs - 1)),
      metrics: metricsOf(last),
      lastCheckpoint: run.lastCheckpoint,
      weights: null,
    },
    force,
  );
}

// ---------------------------------------------------------------------------------------------
// Evaluation: each rank its DistributedSampler slice, counts summed over the ring

interface EvalResult {
  acc1: number;
  acc5: number;
  count: number;
  biased: boolean;
}

let warnedPadding = false;

async function evaluate(run: Run, model: ResNetModel): Promise<EvalResult> {
  const loader = run.val.epoch({
    epoch: 0,
    indices: run.valSampler.indices(0),
    batchSize: run.recipe.batchSize,
    seed: run.recipe.seed,
    rank: run.cfg.rank,
    worldSize: run.cfg.worldSize,
  });
  let counts: TopkCounts = { correct1: 0, correct5: 0, count: 0 };
  try {
    for await (const batch of loader) {
      const x = tf.tensor4d(batch.images, [batch.labels.length, batch.height, batch.width, 3]);
      const { logits } = model.forward(x, false);
      counts = addCounts(counts, topk(logits, batch.labels));
      x.dispose();
      logits.dispose();
    }
  } finally {
    await loader.return(undefined);
  }
  const sums = new Float32Array([counts.correct1, counts.correct5, counts.count]);
  if (run.cfg.worldSize > 1) await run.group.allReduce(sums, 'sum');
  const total = { correct1: sums[0]!, correct5: sums[1]!, count: sums[2]! };
  const biased = total.count > run.val.index.numSamples;
  if (biased && !warnedPadding && run.cfg.rank === 0) {
    warnedPadding = true;
    run.log.warn(
      { evaluated: total.count, samples: run.val.index.numSamples },
      'validation padding: ranks evaluated more samples than the split has, so the accuracy is slightly biased',
    );
  }
  const { acc1, acc5 } = accuracyFromCounts(total);
  return { acc1, acc5, count: total.count, biased };
}

/** The last epoch's accuracies, null where not measured yet. */
function metricsOf(row: EpochMetrics | null | undefined): {
  acc1: number | null;
  acc5: number | null;
  emaAcc1: number | null;
  emaAcc5: number | null;
} {
  return {
    acc1: row?.acc1 ?? null,
    acc5: row?.acc5 ?? null,
    emaAcc1: row?.emaAcc1 ?? null,
    emaAcc5: row?.emaAcc5 ?? null,
  };
}

function copyEmaInto(ema: ModelEma, target: ResNetModel): void {
  for (const [name, v] of ema.params) target.params.get(name)!.assign(v);
  for (const [name, v] of ema.buffers) target.buffers.get(name)!.assign(v);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: rank 0 writes model, EMA and optimizer; every other rank adds its BatchNorm
// buffers (they differ per rank without SyncBN), so a resumed run is bit-identical.

function rankFile(rank: number): string {
  return `rank-${String(rank).padStart(4, '0')}.safetensors`;
}

function mapOf(...maps: Array<ReadonlyMap<string, tf.Tensor>>): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const m of maps) for (const [k, v] of m) out.set(k, v);
  return out;
}

function prefixed(prefix: string, m: ReadonlyMap<string, tf.Tensor>): Map<string, tf.Tensor> {
  return new Map([...m].map(([k, v]) => [prefix + k, v]));
}

async function checkpoint(run: Run, epoch: number, stepInEpoch: number): Promise<void> {
  const { cfg, group, model, ema, sgd, store } = run;
  const name = `epoch-${String(epoch).padStart(6, '0')}${stepInEpoch ? `-step-${String(stepInEpoch).padStart(7, '0')}` : ''}`;
  let entry: Record<string, FileEntry> = {};
  if (cfg.rank > 0) {
    const buffers = mapOf(
      prefixed('model.', model.buffers),
      ema ? prefixed('ema.', ema.buffers) : new Map(),
    );
    entry = {
      [rankFile(cfg.rank)]: await store.putFile(name, rankFile(cfg.rank), encodeTensors(buffers)),
    };
  }
  const gathered =
    cfg.worldSize > 1
      ? await group.allGather(new TextEncoder().encode(JSON.stringify(entry)))
      : [new TextEncoder().encode('{}')];
  if (cfg.rank === 0) {
    const others: Record<string, FileEntry> = {};
    for (const bytes of gathered)
      Object.assign(others, JSON.parse(new TextDecoder().decode(bytes)));
    const files = new Map<string, Buffer>();
    files.set('model.safetensors', Buffer.from(encodeSafetensors(stateDict(model))));
    const momentum = sgd.state();
    files.set(
      'optimizer.safetensors',
      encodeTensors(
        new Map(
          [...momentum].map(([k, v]) => [k, { data: v, shape: [...model.params.get(k)!.shape] }]),
        ),
      ),
    );
    if (ema && run.emaModel && ema.params.size > 0) {
      copyEmaInto(ema, run.emaModel);
      files.set('ema.safetensors', Buffer.from(encodeSafetensors(stateDict(run.emaModel))));
    }
    const pointer: LatestPointer = await store.save(
      {
        epoch,
        stepInEpoch,
        globalStep: epoch * run.itersPerEpoch + stepInEpoch,
        recipeHash: run.hash,
        worldSize: cfg.worldSize,
        backend: run.backend,
        extra: {
          emaNAveraged: ema?.nAveraged ?? 0,
          metrics: run.metrics.history,
          categories: run.train.classes,
          itersPerEpoch: run.itersPerEpoch,
        },
      },
      files,
      others,
    );
    run.lastCheckpoint = store.uri(pointer.name);
    await store.prune(run.recipe.keepCheckpoints);
    run.log.info({ checkpoint: run.lastCheckpoint }, 'checkpoint written');
  }
  if (cfg.worldSize > 1) await group.barrier();
}

/** Loads the newest intact checkpoint, or broadcasts rank 0's initial weights. */
async function resumeOrBroadcast(run: Run): Promise<{ epoch: number; stepInEpoch: number }> {
  const { cfg, group, model, ema, sgd, store } = run;
  // Every rank reads the same checkpoint: rank 0 picks it and tells the others its name.
  let chosen: Checkpoint | null = null;
  if (cfg.rank === 0) {
    chosen = await store.loadLatest({
      expectedRecipeHash: run.hash,
      allowRecipeMismatch: cfg.allowRecipeChange,
      required: ['model.safetensors', 'optimizer.safetensors'],
    });
  }
  let name = chosen?.name ?? '';
  if (cfg.worldSize > 1) {
    const names = await group.allGather(new TextEncoder().encode(name));
    name = new TextDecoder().decode(names[0]);
    if (cfg.rank > 0 && name) {
      chosen = await store.load(name, { expectedRecipeHash: run.hash, allowRecipeMismatch: true });
    }
  }
  if (!chosen) {
    const tensors = [...model.params.values(), ...model.buffers.values()].filter(
      (v) => v.dtype === 'float32',
    );
    if (cfg.worldSize > 1) {
      const arrays = tensors.map((v) => Float32Array.from(v.dataSync() as Float32Array));
      await group.broadcast(arrays, 0);
      tensors.forEach((v, i) => v.assign(tf.tensor(arrays[i]!, v.shape, 'float32')));
    }
    run.log.info('starting from initial weights (no checkpoint)');
    return { epoch: 0, stepInEpoch: 0 };
  }

  const s = chosen.state;
  loadStateDict(model, decodeSafetensors(chosen.files.get('model.safetensors')!).tensors);
  const mine = chosen.files.get(rankFile(cfg.rank));
  if (mine) assignAll(model.buffers, decodeTensors(mine), 'model.');
  const opt = decodeTensors(chosen.files.get('optimizer.safetensors')!);
  sgd.loadState(new Map([...opt].map(([k, v]) => [k, v.data as Float32Array])), model.params);
  const emaFile = chosen.files.get('ema.safetensors');
  if (ema && run.emaModel && emaFile) {
    const emaModel = run.emaModel;
    loadStateDict(emaModel, decodeSafetensors(emaFile).tensors);
    if (mine) assignAll(emaModel.buffers, decodeTensors(mine), 'ema.');
    const tensors = new Map<string, Float32Array | Int32Array>();
    for (const [k, v] of [...emaModel.params, ...emaModel.buffers]) {
      tensors.set(
        k,
        v.dtype === 'int32' ? Int32Array.from(v.dataSync()) : Float32Array.from(v.dataSync()),
      );
    }
    ema.loadState(
      { nAveraged: Number(s.extra.emaNAveraged ?? 0), tensors },
      model.params,
      model.buffers,
    );
  }
  const history = (s.extra.metrics as EpochMetrics[] | undefined) ?? [];
  run.metrics = new MetricsLog(
    run.out,
    history.filter((r) => r.epoch < s.epoch),
  );
  run.lastCheckpoint = store.uri(chosen.name);
  run.log.info({ checkpoint: run.lastCheckpoint, epoch: s.epoch, step: s.stepInEpoch }, 'resumed');
  sendToLauncher(
    { type: 'resumed', checkpoint: chosen.name, epoch: s.epoch, stepInEpoch: s.stepInEpoch },
    cfg.rank,
  );
  return { epoch: s.epoch, stepInEpoch: s.stepInEpoch };
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
