/**
 * The TrainingRecipe API, declared once: the spec here, the status in api/status.ts. From
 * these TypeBox schemas come the TS types, the runtime validation and defaults (api/load.ts)
 * and the CRD's openAPIV3Schema (api/crd.ts → crds/). Hyperparameters mirror torchvision's
 * references/classification/train.py flags, camelCased one to one; their defaults are the
 * recipe that trained ResNet50 to 80.858% (docs/recipe.md lists each flag).
 *
 * Shapes stay inside what a structural CRD schema can express: string enums are unions of
 * literals (the generator turns them into `enum`), maps are Records (→ additionalProperties).
 */
import { FormatRegistry, Type, type Static, type TLiteral, type TUnion } from '@sinclair/typebox';
import { OperatorEnv } from './names.js';
import { celRulesFor, MAX_GRID_POINTS } from './rules.js';

// TypeBox rejects unknown formats; status timestamps are RFC 3339 (metav1.Time).
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set(
    'date-time',
    (v) => /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v)),
  );
}

/** An RFC 3339 timestamp (metav1.Time); importing it registers the format with TypeBox. */
export const DateTime = () => Type.String({ format: 'date-time' });

/** A closed set of strings: `enum` in the CRD, a literal union in TS. */
export function StringEnum<const T extends readonly [string, ...string[]]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as unknown as TUnion<TLiteral<T[number]>[]>;
}

/**
 * Architectures a recipe may name: torchvision's, then the scaled-down *_mini/_small family
 * for tests and the CPU demo. trainer/models/arch.ts holds one ResNetArch per name (its type
 * checks that the two lists are the same).
 */
export const MODEL_NAMES = [
  'resnet18',
  'resnet34',
  'resnet50',
  'resnet101',
  'resnet152',
  'resnext50_32x4d',
  'resnext101_32x8d',
  'wide_resnet50_2',
  'wide_resnet101_2',
  'resnet_mini',
  'resnet_small',
  'resnext_mini',
] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export const LR_SCHEDULERS = ['cosineannealinglr', 'steplr', 'exponentiallr'] as const;
export const LR_WARMUP_METHODS = ['linear', 'constant'] as const;
/** `none` switches auto-augmentation off (train.py: flag absent). */
export const AUTO_AUGMENT_POLICIES = ['ta_wide', 'none'] as const;
export const INTERPOLATIONS = ['bilinear', 'nearest', 'bicubic'] as const;
export const OPTIMIZERS = ['sgd'] as const;
/** What picks the best epoch's weights (trainer/best.ts). */
export const BEST_METRICS = ['emaAcc1', 'acc1'] as const;

/** Fields of the recipe that do not change what is learned; left out of `recipeHash`. */
export const NON_HYPERPARAMETER_FIELDS = [
  'checkpointEverySteps',
  'keepCheckpoints',
  'bestMetric',
] as const;

const int = (min: number, def: number, description: string, max?: number) =>
  Type.Integer({
    minimum: min,
    ...(max !== undefined ? { maximum: max } : {}),
    default: def,
    description,
  });

export const RecipeSchema = Type.Object(
  {
    model: StringEnum(MODEL_NAMES, {
      default: 'resnet50',
      description: 'Architecture (--model); torchvision names plus the *_mini/_small test family.',
    }),
    batchSize: int(
      1,
      128,
      'Images per worker per step (--batch-size); global batch = workers × batchSize.',
      65536,
    ),
    epochs: int(1, 600, 'Number of epochs (--epochs).', 100000),
    opt: StringEnum(OPTIMIZERS, {
      default: 'sgd',
      description: 'Optimizer (--opt): SGD with momentum, no Nesterov.',
    }),
    momentum: Type.Number({
      minimum: 0,
      exclusiveMaximum: 1,
      default: 0.9,
      description: 'SGD momentum (--momentum).',
    }),
    lr: Type.Number({
      exclusiveMinimum: 0,
      maximum: 100,
      default: 0.5,
      description: 'Base learning rate for the global batch (--lr); not scaled automatically.',
    }),
    lrScheduler: StringEnum(LR_SCHEDULERS, {
      default: 'cosineannealinglr',
      description: 'Main LR schedule after warmup (--lr-scheduler).',
    }),
    lrStepSize: int(1, 30, 'steplr: epochs between decays (--lr-step-size).', 100000),
    lrGamma: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.1,
      description: 'steplr/exponentiallr: decay factor (--lr-gamma).',
    }),
    lrMin: Type.Number({
      minimum: 0,
      default: 0,
      description: 'cosineannealinglr: final LR (--lr-min).',
    }),
    lrWarmupEpochs: int(0, 5, 'Warmup epochs (--lr-warmup-epochs); 0 = no warmup.', 100000),
    lrWarmupMethod: StringEnum(LR_WARMUP_METHODS, {
      default: 'linear',
      description: 'Warmup shape (--lr-warmup-method).',
    }),
    lrWarmupDecay: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.01,
      description: 'Warmup start factor (--lr-warmup-decay).',
    }),
    weightDecay: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.00002,
      description: 'L2 weight decay (--wd).',
    }),
    normWeightDecay: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0,
      description: 'Weight decay of normalization-layer parameters (--norm-weight-decay).',
    }),
    labelSmoothing: Type.Number({
      minimum: 0,
      exclusiveMaximum: 1,
      default: 0.1,
      description: 'Label smoothing ε (--label-smoothing).',
    }),
    mixupAlpha: Type.Number({
      minimum: 0,
      maximum: 100,
      default: 0.2,
      description: 'Mixup α, 0 = off (--mixup-alpha).',
    }),
    cutmixAlpha: Type.Number({
      minimum: 0,
      maximum: 100,
      default: 1,
      description: 'CutMix α, 0 = off (--cutmix-alpha).',
    }),
    autoAugment: StringEnum(AUTO_AUGMENT_POLICIES, {
      default: 'ta_wide',
      description: 'Auto-augmentation policy (--auto-augment); none = off.',
    }),
    randomErase: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.1,
      description: 'Random erasing probability (--random-erase).',
    }),
    raSampler: Type.Boolean({
      default: true,
      description: 'Repeated-augmentation sampler (--ra-sampler); distributed runs only.',
    }),
    raReps: int(0, 4, 'Repeats per image with the RA sampler (--ra-reps).', 64),
    modelEma: Type.Boolean({
      default: true,
      description: 'Keep an EMA of the weights (--model-ema).',
    }),
    modelEmaSteps: int(1, 32, 'Steps between EMA updates (--model-ema-steps).', 1000000),
    modelEmaDecay: Type.Number({
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
      default: 0.99998,
      description: 'EMA decay before the batch/steps adjustment (--model-ema-decay).',
    }),
    interpolation: StringEnum(INTERPOLATIONS, {
      default: 'bilinear',
      description: 'Resize interpolation (--interpolation).',
    }),
    trainCropSize: int(8, 176, 'RandomResizedCrop size (--train-crop-size).', 4096),
    valResizeSize: int(8, 232, 'Evaluation resize of the shorter side (--val-resize-size).', 4096),
    valCropSize: int(8, 224, 'Evaluation center crop (--val-crop-size).', 4096),
    seed: int(0, 0, 'Seed of every random stream (samplers, augmentations, init).', 4294967295),
    checkpointEverySteps: int(
      0,
      0,
      'Also checkpoint every N steps inside an epoch; 0 = once per epoch.',
      100000000,
    ),
    keepCheckpoints: int(
      1,
      3,
      "Checkpoints kept in storage (older ones are deleted, except the best epoch's).",
      1000,
    ),
    bestMetric: StringEnum(BEST_METRICS, {
      default: 'emaAcc1',
      description:
        'Picks the epoch whose weights go to weights/best/: emaAcc1 (the EMA weights; acc1 ' +
        'and the model weights when modelEma is off) or acc1 (the model weights).',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Hyperparameters, one per torchvision train.py flag.',
    'x-kubernetes-validations': celRulesFor('recipe'),
  },
);
export type Recipe = Static<typeof RecipeSchema>;

/**
 * Bounds on strings and maps that CEL rules read: the API server estimates a rule's cost from
 * them and refuses a CRD whose rules could be expensive on unbounded input.
 */
const MAX_URI = 2048;
/** Bound of spec.seeds (a CEL rule compares the seeds pairwise). */
export const MAX_SEEDS = 64;

const IntOrString = Type.Union([Type.Integer(), Type.String()], {
  'x-kubernetes-int-or-string': true,
});
const ResourceList = Type.Record(Type.String(), IntOrString, {
  maxProperties: 64,
  description: 'Resource name → quantity, e.g. {cpu: "8", memory: 64Gi}.',
});

export const ResourcesSchema = Type.Object(
  {
    limits: Type.Optional(ResourceList),
    requests: Type.Optional(ResourceList),
  },
  {
    additionalProperties: false,
    description: 'Resources of each worker container (GPUs come from gpusPerWorker).',
  },
);

export const TolerationSchema = Type.Object(
  {
    key: Type.Optional(Type.String()),
    operator: Type.Optional(StringEnum(['Exists', 'Equal'] as const)),
    value: Type.Optional(Type.String()),
    effect: Type.Optional(StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const)),
    tolerationSeconds: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

export const DataSchema = Type.Object(
  {
    train: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_URI,
        description:
          'Training shards: s3://bucket/prefix, a local path, or synthetic:<name>. Required ' +
          'unless mode is eval.',
      }),
    ),
    val: Type.String({
      minLength: 1,
      maxLength: MAX_URI,
      description: 'Validation shards, same forms as train.',
    }),
    endpoint: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_URI,
        description: 'S3-compatible endpoint URL (e.g. MinIO); path-style addressing.',
      }),
    ),
    credentialsSecret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 253,
        description: 'Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, loaded as env.',
      }),
    ),
  },
  { additionalProperties: false },
);

/** runPolicy.elastic: the sizes a group may run at without changing what it computes. */
export const ElasticSchema = Type.Object(
  {
    minWorkers: Type.Integer({
      minimum: 1,
      maximum: 4096,
      description:
        'Fewest worker pods the group runs with; must divide workers (global batch = workers × batchSize).',
    }),
    maxWorkers: Type.Integer({
      minimum: 1,
      maximum: 4096,
      description:
        'Most worker pods (≤ workers, must divide it). At w pods each pod runs workers/w original ' +
        'ranks as gradient-accumulation micro-steps: same samples, order, augmentation, LR and EMA.',
    }),
    graceSeconds: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      default: 60,
      description:
        'How long pods may stay unschedulable before the group restarts at the largest size ' +
        'that fits (from the last checkpoint); also how long grown-back capacity must hold.',
    }),
  },
  {
    additionalProperties: false,
    description:
      'Elastic resize: run at the largest feasible size in [minWorkers, maxWorkers] that can be ' +
      'scheduled, and grow back when capacity returns (docs/elastic.md).',
  },
);
export type ElasticSpec = Static<typeof ElasticSchema>;

export const RunPolicySchema = Type.Object(
  {
    backoffLimit: int(0, 3, 'Group restarts after failures before the recipe fails.', 1000),
    activeDeadlineSeconds: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Fail the recipe after this long since start.' }),
    ),
    ttlSecondsAfterFinished: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          "Delete the recipe's pods, Secret, ConfigMap, Service and NetworkPolicy this long " +
          'after it finished; the recipe itself stays as the record of the run.',
      }),
    ),
    suspend: Type.Boolean({
      default: false,
      description: 'Stop the pods (after a checkpoint) and keep the recipe.',
    }),
    maxWaitSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'How long the group may wait for capacity (e.g. after preemption) before failing; absent = forever.',
      }),
    ),
    terminationGracePeriodSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 86_400,
        description:
          "Worker pods' SIGTERM → SIGKILL time: the group finishes its current step and rank 0 " +
          `writes a checkpoint within it. Absent = the operator's default (${OperatorEnv.workerTerminationGraceSeconds}, 120). ` +
          'Size it above one step plus one checkpoint write (the RunPolicyFits condition checks).',
      }),
    ),
    hangTimeoutSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 86_400,
        description:
          'A rank that completes no training step for this long is a hang: the whole group restarts ' +
          '(reason HangDetected). Absent = 10× the p99 step time measured by the group, at least 60 s.',
      }),
    ),
    elastic: Type.Optional(ElasticSchema),
  },
  { additionalProperties: false, default: {} },
);

/** Limits of spec.dataLoader: beyond them a worker only thrashes or holds memory for nothing. */
export const MAX_LOADER_WORKERS = 256;
export const MAX_PREFETCH_BATCHES = 64;

export const DataLoaderSchema = Type.Object(
  {
    workers: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_LOADER_WORKERS,
        description:
          'Decode/augment threads per worker; 0 decodes on the training thread. Absent: the ' +
          "container's CPU limit (or request) minus the core the training step needs.",
      }),
    ),
    prefetchBatches: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_PREFETCH_BATCHES,
        description:
          'Batches prepared ahead of the step (memory ≈ prefetchBatches × batchSize × ' +
          'trainCropSize² × 12 bytes). Absent: derived from the loader threads.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Overrides of the data loader threads the worker derives from its CPU share.',
  },
);
export type DataLoaderSpec = Static<typeof DataLoaderSchema>;

/** What a recipe does: train (the default), or only evaluate finished weights (spec.eval). */
export const RECIPE_MODES = ['train', 'eval'] as const;
/** Which samples of the validation split an eval-only recipe scores (by index parity). */
export const EVAL_SPLITS = ['all', 'even', 'odd'] as const;
export { MAX_GRID_POINTS };

export const ResizeGridSchema = Type.Object(
  {
    start: Type.Integer({
      minimum: 1,
      maximum: 4096,
      description: "First resize (pixels, shorter side); must be ≥ the weights' crop size.",
    }),
    end: Type.Integer({ minimum: 1, maximum: 4096, description: 'Last resize, ≥ start.' }),
    step: int(1, 8, 'Between grid points, pixels.', 4096),
  },
  {
    additionalProperties: false,
    description:
      'Tune the inference resize (ringmaster eval --resize-grid START:END:STEP): even-indexed ' +
      'samples select the resize, odd-indexed ones confirm it.',
  },
);

export const EvalSchema = Type.Object(
  {
    weights: Type.String({
      minLength: 1,
      maxLength: MAX_URI,
      description:
        'What to evaluate: a weights directory (model.safetensors + meta.json, e.g. ' +
        '<output>/weights) or a checkpoint directory (<output>/checkpoints/epoch-N: the model ' +
        'and its EMA are both scored); s3:// or a local path.',
    }),
    resizeGrid: Type.Optional(ResizeGridSchema),
    split: StringEnum(EVAL_SPLITS, {
      default: 'all',
      description:
        'Samples scored: all, or the even- or odd-indexed half of data.val (index.json order). ' +
        'With resizeGrid the halves are fixed (even selects, odd confirms): leave it all.',
    }),
    writeMeta: Type.Boolean({
      default: false,
      description:
        "With resizeGrid: write the chosen resize into the weights' meta.json " +
        '(transforms.resizeSize, resizeTuning), as eval --write-meta does.',
    }),
  },
  {
    additionalProperties: false,
    description:
      'mode: eval — what the workers evaluate (data.val, workers ranks, recipe.batchSize per rank).',
  },
);
export type EvalSpec = Static<typeof EvalSchema>;

export const TrainingRecipeSpecSchema = Type.Object(
  {
    mode: StringEnum(RECIPE_MODES, {
      default: 'train',
      description:
        'train: the recipe trains (the default). eval: no training — the workers evaluate ' +
        'spec.eval.weights on data.val (and tune the resize); results go to status.eval and <output>/eval.json.',
    }),
    eval: Type.Optional(EvalSchema),
    recipe: RecipeSchema,
    workers: int(1, 1, 'Worker pods (= ranks; each runs one process on one device).', 4096),
    gpusPerWorker: int(
      0,
      1,
      'GPUs per worker pod: 1, or 0 for CPU workers (tfjs uses one device per process).',
      1,
    ),
    image: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_URI,
        description: "Worker image; absent = the operator's default.",
      }),
    ),
    resources: Type.Optional(ResourcesSchema),
    nodeSelector: Type.Optional(Type.Record(Type.String(), Type.String())),
    tolerations: Type.Optional(Type.Array(TolerationSchema)),
    data: DataSchema,
    dataLoader: Type.Optional(DataLoaderSchema),
    output: Type.String({
      minLength: 1,
      maxLength: MAX_URI,
      description: 'Where checkpoints/ and weights/ go: s3://bucket/prefix or a local path.',
    }),
    runPolicy: RunPolicySchema,
    seeds: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 4294967295 }), {
        minItems: 1,
        maxItems: MAX_SEEDS,
        description:
          'Train the recipe once per seed (each run its own worker group, output ' +
          '<output>/seed-<n>/, recipe.seed = n) and summarize Acc@1/Acc@5 over the seeds; ' +
          'absent = one run of recipe.seed into <output>/.',
      }),
    ),
    parallelism: int(
      1,
      1,
      'With seeds: how many seed runs at once (each needs `workers` pods).',
      MAX_SEEDS,
    ),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': celRulesFor('spec'),
  },
);
export type TrainingRecipeSpec = Static<typeof TrainingRecipeSpecSchema>;
