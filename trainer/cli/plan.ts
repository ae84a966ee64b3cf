/**
 * `ringmaster plan RECIPE`: what a recipe will do, without training (trainer/plan.ts), as a
 * table with an LR curve, or as JSON.
 */
import { createRequire } from 'node:module';
import { intFlag } from '../../common/parse.js';
import {
  IMAGENET_CLASSES,
  IMAGENET_TRAIN_SAMPLES,
  IMAGENET_VAL_SAMPLES,
  planRecipe,
  type Plan,
} from '../plan.js';
import { FASHION_MNIST_CLASSES } from '../data/fashion-mnist.js';
import { isGeneratedDataUri, parseGeneratedDataUri } from '../data/resolve.js';
import { INDEX_FILE, readIndex } from '../data/shard-index.js';
import { SHAPE_CLASSES } from '../data/synthetic.js';
import { loadTrainingRecipeFile, nameFromSource, trainData } from '../../api/load.js';
import { measureStepSeconds } from '../step-timing.js';
import { LocalStorage } from '../../common/storage/local-storage.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import type { Command } from 'commander';

// asciichart is CommonJS without type declarations.
const asciichart = createRequire(import.meta.url)('asciichart') as {
  plot(series: number[], config?: { height?: number; format?: (x: number) => string }): string;
};

interface PlanFlags {
  trainSamples?: string;
  valSamples?: string;
  numClasses?: string;
  json?: boolean;
  measure?: boolean;
  backend?: string;
}

export function register(program: Command): void {
  program
    .command('plan')
    .description('show what a recipe will do (batches, steps, LR per epoch, EMA, model cost)')
    .argument('<recipe>', 'TrainingRecipe file (YAML or JSON; a manifest or a bare spec)')
    .option(
      '--train-samples <n>',
      `training set size (default ${IMAGENET_TRAIN_SAMPLES}, ImageNet-1k)`,
    )
    .option(
      '--val-samples <n>',
      `validation set size (default ${IMAGENET_VAL_SAMPLES}, ImageNet-1k)`,
    )
    .option(
      '--num-classes <n>',
      `number of classes (default: from a local index.json, else ${IMAGENET_CLASSES})`,
    )
    .option('--json', 'print the plan as JSON')
    .option(
      '--measure',
      'time a few training steps on this machine and estimate the duration (one worker per device)',
    )
    .option('--backend <name>', 'backend for --measure (default: the one a worker would pick)')
    .action(async (file: string, flags: PlanFlags) => {
      process.stdout.write(await runPlan(file, flags));
    });
}

export async function runPlan(file: string, flags: PlanFlags): Promise<string> {
  const parsedFlags = {
    trainSamples: parseCount('--train-samples', flags.trainSamples),
    valSamples: parseCount('--val-samples', flags.valSamples),
    numClasses: parseCount('--num-classes', flags.numClasses),
  };
  const { metadata, spec } = await loadTrainingRecipeFile(file);
  const counts = await chooseCounts(spec, parsedFlags);
  const plan = planRecipe(spec, {
    trainSamples: counts.trainSamples,
    valSamples: counts.valSamples,
    numClasses: counts.numClasses,
  });
  if (flags.measure) {
    const timing = await measureStepSeconds(spec.recipe, counts.numClasses ?? 1000, {
      ...(flags.backend ? { backend: flags.backend } : {}),
    });
    // Training steps plus evaluation (a forward pass costs about a third of a step) of model
    // and EMA each epoch; the all-reduce is not included (it overlaps little on CPU, and on
    // GPUs it depends on the network).
    const evalSteps =
      plan.valSamplesPerRank === null
        ? 0
        : Math.ceil(plan.valSamplesPerRank / spec.recipe.batchSize) *
          (spec.recipe.modelEma ? 2 : 1) *
          spec.recipe.epochs;
    plan.estimatedSeconds = timing.secondsPerStep * (plan.totalSteps + evalSteps / 3);
    plan.warnings.push(
      `estimated time from ${timing.steps} measured steps on this machine (${timing.backend}, ` +
        `${timing.secondsPerStep.toFixed(3)} s per step of ${spec.recipe.batchSize}` +
        (timing.measuredBatch !== spec.recipe.batchSize
          ? `, scaled from batch ${timing.measuredBatch}`
          : '') +
        `), one worker per device; all-reduce and data loading not included`,
    );
  }
  const name = metadata.name ?? nameFromSource(file);
  if (flags.json) {
    return `${JSON.stringify({ recipe: name, source: file, countsNote: counts.note, ...plan }, null, 2)}\n`;
  }
  return renderPlan(name, file, spec, plan, counts.note);
}

function parseCount(flag: string, raw: string | undefined): number | undefined {
  return raw === undefined ? undefined : intFlag(flag, { min: 1 })(raw);
}

interface SplitInfo {
  numSamples: number;
  numClasses: number;
}

/** Sizes of the generated datasets (trainer/data/resolve.ts), known without building them. */
function generatedSplitInfo(uri: string, split: 'train' | 'val'): SplitInfo {
  const d = parseGeneratedDataUri(uri);
  if (d.scheme === 'synthetic') {
    return { numSamples: d.options[split], numClasses: SHAPE_CLASSES.length };
  }
  const total = split === 'train' ? 60_000 : 10_000;
  return {
    numSamples: Math.min(total, d.limit ?? total),
    numClasses: FASHION_MNIST_CLASSES.length,
  };
}

/**
 * What is known about a split without training: a generated dataset's size, or a local
 * split's index.json (S3 is not read: planning needs no credentials).
 */
async function splitInfo(uri: string, split: 'train' | 'val'): Promise<SplitInfo | undefined> {
  if (isGeneratedDataUri(uri)) return generatedSplitInfo(uri, split);
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) return undefined; // s3:// and other schemes
  const storage = new LocalStorage(uri);
  try {
    if (!(await storage.exists(INDEX_FILE))) return undefined;
    const index = await readIndex(storage);
    return { numSamples: index.numSamples, numClasses: index.classes.length };
  } finally {
    storage.close();
  }
}

/**
 * The dataset sizes to plan with, and a sentence saying where they came from: the flags,
 * else a local index.json, else ImageNet-1k's sizes (the recipe's home).
 */
async function chooseCounts(
  spec: Readonly<TrainingRecipeSpec>,
  flags: { trainSamples?: number; valSamples?: number; numClasses?: number },
): Promise<{ trainSamples: number; valSamples: number; numClasses: number; note: string }> {
  const train =
    flags.trainSamples === undefined ? await splitInfo(trainData(spec), 'train') : undefined;
  const val = flags.valSamples === undefined ? await splitInfo(spec.data.val, 'val') : undefined;
  const trainSamples = flags.trainSamples ?? train?.numSamples ?? IMAGENET_TRAIN_SAMPLES;
  const valSamples = flags.valSamples ?? val?.numSamples ?? IMAGENET_VAL_SAMPLES;
  const numClasses = flags.numClasses ?? train?.numClasses ?? IMAGENET_CLASSES;

  const sources: string[] = [];
  const given = [
    flags.trainSamples !== undefined && 'train',
    flags.valSamples !== undefined && 'val',
  ];
  if (given.some(Boolean))
    sources.push(`${given.filter(Boolean).join(' and ')} given on the command line`);
  const indexed = [train && 'train', val && 'val'].filter(Boolean);
  if (indexed.length > 0) sources.push(`${indexed.join(' and ')} from the data URIs`);
  const assumed = [
    flags.trainSamples === undefined && !train && 'train',
    flags.valSamples === undefined && !val && 'val',
  ].filter(Boolean);
  if (assumed.length > 0) {
    const imagenetLike = /imagenet|ilsvrc/i.test(`${spec.data.train} ${spec.data.val}`);
    const why = imagenetLike
      ? 'the data looks like ImageNet-1k'
      : `the size of ${spec.data.train} is not known here; pass --train-samples/--val-samples`;
    sources.push(`${assumed.join(' and ')} assumed from ImageNet-1k: ${why}`);
  }
  return { trainSamples, valSamples, numClasses, note: sources.join('; ') };
}

function renderPlan(
  name: string,
  file: string,
  spec: Readonly<TrainingRecipeSpec>,
  plan: Plan,
  countsNote: string,
): string {
  const r = spec.recipe;
  const lr = plan.lrByEpoch;
  const warmup =
    r.lrWarmupEpochs > 0
      ? `${r.lrWarmupMethod} warmup ${r.lrWarmupEpochs} epoch(s) from ×${r.lrWarmupDecay}, then `
      : '';
  const samplerText =
    plan.sampler === 'ra'
      ? `RA sampler (${r.raReps} repeats)`
      : plan.sampler === 'distributed'
        ? 'DistributedSampler'
        : 'random permutation (one process)';
  const rows: Array<[string, string]> = [
    ['recipe', `${name} (${file})  hash ${plan.recipeHash.slice(0, 12)}`],
    ['data', `train ${spec.data.train}  val ${spec.data.val}`],
    [
      'sample counts',
      `${fmtInt(plan.trainSamples)} train / ${fmtInt(plan.valSamples ?? 0)} val — ${countsNote}`,
    ],
    [
      'model',
      `${plan.model.name}: ${fmtInt(plan.model.params)} params, ${plan.model.numClasses} classes`,
    ],
    [
      'GFLOPs/image',
      `${plan.model.gflops.train.toFixed(3)} train @${plan.model.trainCropSize}, ` +
        `${plan.model.gflops.val.toFixed(3)} val @${plan.model.valCropSize} (multiply-accumulates)`,
    ],
    [
      'workers × batch',
      `${plan.workers} × ${plan.batchSize} = global batch ${fmtInt(plan.globalBatch)}`,
    ],
    ['sampler', `${samplerText}: ${fmtInt(plan.samplesPerRank)} samples per rank per epoch`],
    [
      'steps',
      `${fmtInt(plan.itersPerEpoch)} per epoch × ${fmtInt(plan.epochs)} epochs = ${fmtInt(plan.totalSteps)}`,
    ],
    [
      'learning rate',
      `${warmup}${r.lrScheduler}: ${fmtLr(lr[0]!)} → max ${fmtLr(Math.max(...lr))} → ${fmtLr(lr[lr.length - 1]!)}`,
    ],
    [
      'EMA',
      plan.emaDecay === null
        ? 'off'
        : `decay ${plan.emaDecay.toFixed(8)} (adjusted from ${r.modelEmaDecay}), every ${r.modelEmaSteps} ` +
          `steps, ${plan.emaUpdatesPerEpoch} updates per epoch`,
    ],
    [
      'validation',
      plan.valSamplesPerRank === null
        ? 'sample count unknown'
        : `${fmtInt(plan.valSamplesPerRank)} samples per rank` +
          (plan.valPadding > 0 ? `, ${plan.valPadding} padded` : ', no padding'),
    ],
    [
      'ingredients',
      [
        `wd ${r.weightDecay} (norm ${r.normWeightDecay})`,
        `label smoothing ${r.labelSmoothing}`,
        `mixup ${r.mixupAlpha}`,
        `cutmix ${r.cutmixAlpha}`,
        `auto-augment ${r.autoAugment}`,
        `random erase ${r.randomErase}`,
      ].join(', '),
    ],
  ];
  for (const e of plan.elastic ?? []) {
    rows.push([
      `elastic ${e.size} pod(s)`,
      e.feasible
        ? `${e.accumulationSteps} original rank(s) per pod = ${e.accumulationSteps} accumulation ` +
          `micro-step(s) of ${r.batchSize}: ${fmtInt(e.imagesPerPodStep!)} images per pod per step, ` +
          `${fmtInt(e.itersPerEpoch!)} steps per epoch, global batch ${fmtInt(e.globalBatch!)}`
        : `not used: ${e.size} does not divide workers (${spec.workers}), the global batch would change`,
    ]);
  }
  if (plan.estimatedSeconds !== undefined) {
    const s = plan.estimatedSeconds;
    rows.push([
      'estimated time',
      s < 3600 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`,
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  // Step and exponential schedules are multiplicative: a log axis shows every decay.
  const logScale = r.lrScheduler !== 'cosineannealinglr' && Math.min(...lr) > 0;
  lines.push(
    '',
    `LR by epoch (${lr.length} epochs${logScale ? ', log scale' : ''})`,
    lrChart(lr, logScale),
  );
  if (plan.warnings.length > 0) {
    lines.push('', 'warnings:', ...plan.warnings.map((w) => `  - ${w}`));
  }
  return `${lines.join('\n')}\n`;
}

/** At most ~64 columns: one point per epoch, or evenly spaced epochs for long schedules. */
function lrChart(lr: readonly number[], logScale: boolean): string {
  const columns = Math.min(lr.length, 64);
  const series = Array.from({ length: columns }, (_, i) =>
    columns === 1 ? lr[0]! : lr[Math.round((i * (lr.length - 1)) / (columns - 1))]!,
  );
  if (!logScale) return asciichart.plot(series, { height: 8, format: (x) => fmtLr(x).padStart(9) });
  return asciichart.plot(
    series.map((x) => Math.log10(x)),
    { height: 8, format: (x) => fmtLr(10 ** x).padStart(9) },
  );
}

function fmtLr(x: number): string {
  if (x === 0) return '0';
  return Math.abs(x) >= 1e-3 ? Number(x.toPrecision(4)).toString() : x.toExponential(2);
}

function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}
