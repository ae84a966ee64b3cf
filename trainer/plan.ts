/**
 * What a recipe will do, computed without training: batch and sampler arithmetic, the LR of
 * every epoch, the EMA decay, the model's size and cost, and warnings about combinations that
 * are legal but probably not what the user meant. The trainer uses the same functions
 * (sampler choice, samples per rank and steps per epoch from data/, the EMA decay), so a plan
 * and a run cannot disagree.
 */
import {
  RA_SELECTED_ROUND_TO,
  samplesPerRank,
  stepsPerEpoch,
  type SamplerKind,
} from './data/epoch-length.js';
import { samplerKindFor } from './data/sampler.js';
import { InputError } from '../common/errors.js';
import { countMacs, countParams, getArch } from './models/arch.js';
import { emaDecay, emaUpdatesPerEpoch } from './optim/ema-decay.js';
import { lrByEpoch } from './optim/schedule.js';
import { recipeHash } from '../api/load.js';
import { isFeasibleSize } from '../api/elastic.js';
import type { TrainingRecipeSpec } from '../api/schema.js';

/** ImageNet-1k (ILSVRC-2012) split sizes, the counts the published recipe was tuned on. */
export const IMAGENET_TRAIN_SAMPLES = 1_281_167;
export const IMAGENET_VAL_SAMPLES = 50_000;
export const IMAGENET_CLASSES = 1000;

export { RA_SELECTED_ROUND_TO, type SamplerKind };

/** (lr, global batch) pairs of the published recipes: an lr is only meaningful with its batch. */
export const REFERENCE_LRS: ReadonlyArray<{ lr: number; globalBatch: number; recipe: string }> = [
  { lr: 0.5, globalBatch: 1024, recipe: 'the final recipe' },
  { lr: 0.1, globalBatch: 256, recipe: 'the baseline recipe' },
];

/** One group size of an elastic recipe (api/elastic.ts has the rule). */
export interface ElasticRow {
  /** Worker pods in the group. */
  size: number;
  /** Whether this size keeps the global batch (it divides spec.workers); others are skipped. */
  feasible: boolean;
  /** Original ranks per pod = accumulation micro-steps per optimizer step (feasible only). */
  accumulationSteps: number | null;
  /** Images per pod per optimizer step (micro-batch batchSize × accumulation steps). */
  imagesPerPodStep: number | null;
  /** Optimizer steps per epoch: the same at every feasible size. */
  itersPerEpoch: number | null;
  globalBatch: number | null;
}

export interface PlanOptions {
  trainSamples: number;
  valSamples?: number;
  numClasses?: number;
}

export interface Plan {
  model: {
    name: string;
    params: number;
    /** Multiply-accumulates per image (conv + linear), in 10⁹, as torchvision reports GFLOPS. */
    gflops: { train: number; val: number };
    trainCropSize: number;
    valCropSize: number;
    numClasses: number;
  };
  workers: number;
  /** Processes in the ring (one per worker: tfjs drives one device per process). */
  worldSize: number;
  batchSize: number;
  globalBatch: number;
  epochs: number;
  trainSamples: number;
  valSamples: number | null;
  sampler: SamplerKind;
  /** Training samples each rank sees per epoch. */
  samplesPerRank: number;
  itersPerEpoch: number;
  totalSteps: number;
  /** Validation samples each rank evaluates (after DistributedSampler padding). */
  valSamplesPerRank: number | null;
  /** Samples evaluated twice because the validation set does not divide by the world size. */
  valPadding: number;
  lrByEpoch: number[];
  /** The adjusted EMA decay (see trainer/optim/ema-decay.ts), null when modelEma is off. */
  emaDecay: number | null;
  emaUpdatesPerEpoch: number;
  recipeHash: string;
  warnings: string[];
  /** runPolicy.elastic: what the run does at each group size in [minWorkers, maxWorkers]. */
  elastic: ElasticRow[] | null;
  /** Wall-clock estimate; filled in by the trainer's throughput model when it knows one. */
  estimatedSeconds?: number;
}

/**
 * Samples per rank per epoch, as the sampler torchvision's train.py would pick:
 * RASampler (distributed + raSampler), DistributedSampler (distributed), or one process
 * reading a plain permutation.
 */
export function trainSamplesPerRank(
  n: number,
  worldSize: number,
  raSampler: boolean,
  raReps: number,
): { sampler: SamplerKind; samplesPerRank: number } {
  const sampler = samplerKindFor('train', worldSize, raSampler ? raReps : 0);
  return { sampler, samplesPerRank: samplesPerRank(sampler, { n, worldSize, reps: raReps }) };
}

export function planRecipe(spec: Readonly<TrainingRecipeSpec>, options: PlanOptions): Plan {
  const { trainSamples, valSamples } = options;
  const numClasses = options.numClasses ?? IMAGENET_CLASSES;
  const issues = [];
  if (!Number.isInteger(trainSamples) || trainSamples < 1) {
    issues.push({ path: 'trainSamples', message: `must be an integer ≥ 1 (got ${trainSamples})` });
  }
  if (valSamples !== undefined && (!Number.isInteger(valSamples) || valSamples < 1)) {
    issues.push({ path: 'valSamples', message: `must be an integer ≥ 1 (got ${valSamples})` });
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    issues.push({ path: 'numClasses', message: `must be an integer ≥ 1 (got ${numClasses})` });
  }
  if (issues.length > 0) throw new InputError('invalid plan options', issues);

  const r = spec.recipe;
  const worldSize = spec.workers;
  const globalBatch = worldSize * r.batchSize;
  const { sampler, samplesPerRank: perRank } = trainSamplesPerRank(
    trainSamples,
    worldSize,
    r.raSampler,
    r.raReps,
  );
  if (perRank === 0) {
    throw new InputError('the recipe cannot train on this data', [
      {
        path: 'trainSamples',
        message:
          `the RA sampler keeps floor(N/${RA_SELECTED_ROUND_TO})·${RA_SELECTED_ROUND_TO}/workers ` +
          `samples per rank, which is 0 for N = ${trainSamples} and ${worldSize} workers ` +
          `(use more data, fewer workers, or raSampler: false)`,
      },
    ]);
  }
  const itersPerEpoch = stepsPerEpoch(perRank, r.batchSize);
  const totalSteps = itersPerEpoch * r.epochs;

  let valSamplesPerRank: number | null = null;
  let valPadding = 0;
  if (valSamples !== undefined) {
    valSamplesPerRank = samplesPerRank(samplerKindFor('val', worldSize, 0), {
      n: valSamples,
      worldSize,
    });
    valPadding = valSamplesPerRank * worldSize - valSamples;
  }

  const arch = getArch(r.model);
  const decay = emaDecay(r, worldSize);
  const emaUpdates = r.modelEma ? emaUpdatesPerEpoch(itersPerEpoch, r.modelEmaSteps) : 0;

  const plan: Plan = {
    model: {
      name: arch.name,
      params: countParams(arch, numClasses),
      gflops: {
        train: countMacs(arch, r.trainCropSize, numClasses) / 1e9,
        val: countMacs(arch, r.valCropSize, numClasses) / 1e9,
      },
      trainCropSize: r.trainCropSize,
      valCropSize: r.valCropSize,
      numClasses,
    },
    workers: spec.workers,
    worldSize,
    batchSize: r.batchSize,
    globalBatch,
    epochs: r.epochs,
    trainSamples,
    valSamples: valSamples ?? null,
    sampler,
    samplesPerRank: perRank,
    itersPerEpoch,
    totalSteps,
    valSamplesPerRank,
    valPadding,
    lrByEpoch: lrByEpoch(r),
    emaDecay: decay,
    emaUpdatesPerEpoch: emaUpdates,
    recipeHash: recipeHash(r),
    elastic: elasticRows(spec, itersPerEpoch, globalBatch),
    warnings: [],
  };
  plan.warnings = planWarnings(spec, plan);
  return plan;
}

function elasticRows(
  spec: Readonly<TrainingRecipeSpec>,
  itersPerEpoch: number,
  globalBatch: number,
): ElasticRow[] | null {
  const range = spec.runPolicy.elastic;
  if (!range) return null;
  const rows: ElasticRow[] = [];
  for (let size = range.minWorkers; size <= range.maxWorkers; size++) {
    const feasible = isFeasibleSize(spec.workers, size);
    const k = feasible ? spec.workers / size : null;
    rows.push({
      size,
      feasible,
      accumulationSteps: k,
      imagesPerPodStep: k === null ? null : k * spec.recipe.batchSize,
      itersPerEpoch: feasible ? itersPerEpoch : null,
      globalBatch: feasible ? globalBatch : null,
    });
  }
  return rows;
}

function planWarnings(spec: Readonly<TrainingRecipeSpec>, plan: Plan): string[] {
  const r = spec.recipe;
  const w: string[] = [];

  for (const ref of REFERENCE_LRS) {
    if (Math.abs(r.lr - ref.lr) < 1e-12 && plan.globalBatch !== ref.globalBatch) {
      const scaled = (ref.lr * plan.globalBatch) / ref.globalBatch;
      w.push(
        `lr ${r.lr} is ${ref.recipe}'s lr for a global batch of ${ref.globalBatch}, but this ` +
          `recipe's global batch is ${plan.globalBatch} (${spec.workers} workers × ${r.batchSize}); ` +
          `the LR is not scaled automatically — linear scaling suggests lr ${formatNumber(scaled)}`,
      );
    }
  }
  if (plan.valPadding > 0 && plan.valSamples !== null) {
    w.push(
      `validation: ${plan.valSamples} samples do not divide by ${plan.worldSize} workers; ` +
        `${plan.valPadding} sample(s) are evaluated twice, so Acc@1/Acc@5 are slightly biased`,
    );
  }
  if (r.raSampler && plan.worldSize === 1) {
    w.push(
      'raSampler is on but there is one worker: like torchvision, a single process reads a ' +
        'plain random permutation (no repeated augmentation)',
    );
  }
  if (plan.sampler === 'ra' && plan.trainSamples % RA_SELECTED_ROUND_TO !== 0) {
    const dropped = plan.trainSamples - plan.samplesPerRank * plan.worldSize;
    if (dropped > plan.trainSamples * 0.05) {
      w.push(
        `the RA sampler uses ${plan.samplesPerRank * plan.worldSize} of ${plan.trainSamples} ` +
          `training samples per epoch (it rounds down to a multiple of ${RA_SELECTED_ROUND_TO})`,
      );
    }
  }
  if (r.modelEma && plan.itersPerEpoch < r.modelEmaSteps) {
    w.push(
      `modelEmaSteps ${r.modelEmaSteps} exceeds the ${plan.itersPerEpoch} iterations of an ` +
        'epoch: the EMA is updated once per epoch only (at step 0)',
    );
  }
  if (plan.emaDecay === 0) {
    w.push(
      'the adjusted EMA decay is 0 (α clipped to 1): every EMA update is a plain copy of the ' +
        'weights; lower modelEmaSteps or modelEmaDecay, or train longer',
    );
  }
  if (r.modelEma && r.lrWarmupEpochs > 0 && plan.epochs <= r.lrWarmupEpochs + 1) {
    w.push('the EMA is reset to a copy during warmup, so it averages over at most one epoch');
  }
  if (r.lrScheduler === 'steplr' && r.lrStepSize >= r.epochs - r.lrWarmupEpochs) {
    w.push(
      `lrStepSize ${r.lrStepSize} ≥ the ${r.epochs - r.lrWarmupEpochs} epochs after warmup: ` +
        'the step schedule never decays the LR',
    );
  }
  if ((r.mixupAlpha > 0 || r.cutmixAlpha > 0) && r.batchSize < 2) {
    w.push(
      'mixup/cutmix pair each sample with its neighbour in the batch: batchSize 1 mixes nothing',
    );
  }
  if (plan.model.numClasses < 5) {
    w.push(`Acc@5 is trivially 100% with ${plan.model.numClasses} classes`);
  }
  return w;
}

function formatNumber(x: number): string {
  return Number(x.toPrecision(4)).toString();
}
