/**
 * A recipe's status: its schema (the CRD's `status`, written only by the operator) with the
 * types derived from it, and its words — phases, condition types and reasons, named
 * constants so status, events, tests and `kubectl wait --for=condition=…` spell them alike.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DateTime, StringEnum } from './schema.js';

export const PHASES = [
  'Pending',
  'Starting',
  'Running',
  'Restarting',
  'Suspended',
  'Requeued',
  'Succeeded',
  'Failed',
] as const;
export type Phase = (typeof PHASES)[number];

/** metav1.Condition. */
export const ConditionSchema = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    status: StringEnum(['True', 'False', 'Unknown'] as const),
    reason: Type.String({ minLength: 1 }),
    message: Type.String(),
    lastTransitionTime: DateTime(),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type Condition = Static<typeof ConditionSchema>;

/** status.progress: copied from progress.json while a group runs. */
export const ProgressStatusSchema = Type.Object(
  {
    epoch: Type.Optional(Type.Integer({ minimum: 0, description: 'Epochs completed.' })),
    epochs: Type.Optional(Type.Integer({ minimum: 0 })),
    step: Type.Optional(Type.Integer({ minimum: 0, description: 'Optimizer steps completed.' })),
    totalSteps: Type.Optional(Type.Integer({ minimum: 0 })),
    imagesPerSec: Type.Optional(Type.Number({ minimum: 0 })),
    etaSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type RecipeProgress = Static<typeof ProgressStatusSchema>;

/** status.metrics: the last evaluation. */
export const MetricsStatusSchema = Type.Object(
  {
    acc1: Type.Optional(Type.Number({ description: 'Top-1 of the model, percent.' })),
    acc5: Type.Optional(Type.Number()),
    emaAcc1: Type.Optional(Type.Number({ description: 'Top-1 of the EMA, percent.' })),
    emaAcc5: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);
export type RecipeMetrics = Static<typeof MetricsStatusSchema>;

/** status.lastCheckpoint. */
export const CheckpointRefSchema = Type.Object(
  {
    uri: Type.Optional(Type.String()),
    epoch: Type.Optional(Type.Integer({ minimum: 0 })),
    step: Type.Optional(Type.Integer({ minimum: 0 })),
    time: Type.Optional(DateTime()),
  },
  { additionalProperties: false },
);
export type CheckpointRef = Static<typeof CheckpointRefSchema>;

/** One figure over the seeds that succeeded (common/stats.ts `describe`); sd needs n ≥ 2. */
export const SpreadSchema = Type.Object(
  {
    n: Type.Integer({ minimum: 0 }),
    mean: Type.Number(),
    sd: Type.Optional(Type.Number({ description: 'Sample standard deviation (n − 1).' })),
    median: Type.Number(),
    min: Type.Number(),
    max: Type.Number(),
  },
  { additionalProperties: false },
);
export type Spread = Static<typeof SpreadSchema>;

/** status.seeds[]: one seed's run (spec.seeds). */
export const SeedRunStatusSchema = Type.Object(
  {
    seed: Type.Integer({ minimum: 0 }),
    phase: StringEnum(PHASES),
    recipe: Type.Optional(Type.String({ description: "The seed's child TrainingRecipe." })),
    output: Type.Optional(Type.String()),
    metrics: Type.Optional(MetricsStatusSchema),
    weights: Type.Optional(Type.String()),
    message: Type.Optional(Type.String({ description: 'Why the seed failed.' })),
  },
  { additionalProperties: false },
);
export type SeedRunStatus = Static<typeof SeedRunStatusSchema>;

/**
 * status.summary: the final metrics over the seeds that succeeded; failed seeds are counted
 * in `failed`, never averaged in.
 */
export const SeedSummarySchema = Type.Object(
  {
    n: Type.Integer({ minimum: 0, description: 'Seeds that succeeded.' }),
    failed: Type.Integer({ minimum: 0, description: 'Seeds that failed (not in the figures).' }),
    acc1: Type.Optional(SpreadSchema),
    acc5: Type.Optional(SpreadSchema),
    emaAcc1: Type.Optional(SpreadSchema),
    emaAcc5: Type.Optional(SpreadSchema),
    headline: Type.Optional(
      Type.String({
        description:
          'EMA Acc@1 (Acc@1 without an EMA) as "mean ± sd (n)", e.g. "80.12 ± 0.08 (3)".',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SeedSummary = Static<typeof SeedSummarySchema>;

/** Acc@1/Acc@5 (percent) over `count` samples. */
export const ScoreSchema = Type.Object(
  {
    acc1: Type.Number(),
    acc5: Type.Number(),
    count: Type.Integer({ minimum: 0, description: 'Samples scored, padding included.' }),
  },
  { additionalProperties: false },
);
export type Score = Static<typeof ScoreSchema>;

/** One resize of the grid: the selecting (even) and the confirming (odd) half. */
export const GridRowSchema = Type.Object(
  { resize: Type.Integer({ minimum: 1 }), select: ScoreSchema, confirm: ScoreSchema },
  { additionalProperties: false },
);
export type GridRow = Static<typeof GridRowSchema>;

/** The resize tuning of an eval (trainer/tune-resize.ts): both halves at every resize. */
export const ResizeTuningSchema = Type.Object(
  {
    weights: StringEnum(['model', 'ema'] as const, {
      description: 'Which weights the grid scored: the EMA when the artifact has one.',
    }),
    grid: Type.Array(GridRowSchema, { maxItems: 64 }),
    chosen: Type.Integer({ minimum: 1, description: 'Best Acc@1 on the selecting half.' }),
    current: Type.Integer({ minimum: 1, description: "The artifact's resize before tuning." }),
    confirmGain: Type.Optional(
      Type.Number({
        description: 'Confirming half: Acc@1 at the choice minus at the current resize.',
      }),
    ),
    split: Type.String(),
    metaWritten: Type.Optional(
      Type.String({ description: 'meta.json the choice was written to (eval.writeMeta).' }),
    ),
  },
  { additionalProperties: false },
);
export type ResizeTuningStatus = Static<typeof ResizeTuningSchema>;

/** status.eval: what an eval-only recipe (spec.mode: eval) measured. */
export const EvalStatusSchema = Type.Object(
  {
    weights: Type.String({ description: 'What was evaluated (spec.eval.weights).' }),
    split: Type.String({ description: 'Samples scored: all, even or odd.' }),
    resize: Type.Integer({ minimum: 1, description: "The artifact's eval resize." }),
    crop: Type.Integer({ minimum: 1 }),
    model: Type.Optional(ScoreSchema),
    ema: Type.Optional(ScoreSchema),
    biased: Type.Optional(
      Type.Boolean({
        description:
          'DistributedSampler padding: the ranks scored more samples than the split has.',
      }),
    ),
    tuning: Type.Optional(ResizeTuningSchema),
    report: Type.Optional(Type.String({ description: 'URI of eval.json (every figure).' })),
    workers: Type.Integer({ minimum: 1 }),
    seconds: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type EvalStatus = Static<typeof EvalStatusSchema>;

/** status.goodput: how much of the computing the run kept (restarts throw steps away). */
export const GoodputSchema = Type.Object(
  {
    ratio: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, description: 'stepsKept ÷ stepsComputed.' }),
    ),
    stepsComputed: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Optimizer steps computed by every group so far.' }),
    ),
    stepsKept: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Steps that count: the run is at this step now.' }),
    ),
    secondsLost: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          'Wall time lost to restarts: no group training (old group gone → new one resumed) plus the time the thrown-away steps took.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type Goodput = Static<typeof GoodputSchema>;

/** status.stragglers[]: a rank whose own step time (p50) is > 1.5× its peers' median. */
export const StragglerSchema = Type.Object(
  {
    rank: Type.Integer({ minimum: 0 }),
    pod: Type.Optional(Type.String()),
    node: Type.Optional(Type.String()),
    p50StepSeconds: Type.Number({ minimum: 0, description: "The rank's own part of a step." }),
    ratio: Type.Number({ minimum: 0, description: "p50 ÷ the median of the other ranks' p50." }),
  },
  { additionalProperties: false },
);
export type Straggler = Static<typeof StragglerSchema>;

/** status.workerThreads: how rank 0 spends its CPU share (trainer/thread-plan.ts). */
export const WorkerThreadsStatusSchema = Type.Object(
  {
    cores: Type.Optional(Type.Integer({ minimum: 1, description: 'CPU share of one worker.' })),
    coresSource: Type.Optional(
      Type.String({ description: 'cgroup cpu.max, cgroup cpu.cfs_quota_us, cpu request, …' }),
    ),
    computeThreads: Type.Optional(Type.Integer({ minimum: 0 })),
    loaderWorkers: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Decode/augment threads of the data loader.' }),
    ),
    prefetchBatches: Type.Optional(Type.Integer({ minimum: 0 })),
    loaderSource: Type.Optional(StringEnum(['spec', 'derived'] as const)),
  },
  { additionalProperties: false },
);
export type WorkerThreads = Static<typeof WorkerThreadsStatusSchema>;

/** status.group: the current worker group's size (runPolicy.elastic may make it smaller). */
export const GroupStatusSchema = Type.Object(
  {
    workers: Type.Integer({ minimum: 1, description: 'Worker pods of the current group.' }),
    logicalWorkers: Type.Integer({
      minimum: 1,
      description: 'spec.workers the group runs (global batch = logicalWorkers × batchSize).',
    }),
    accumulationSteps: Type.Integer({
      minimum: 1,
      description: 'Original ranks per pod = gradient-accumulation micro-steps per step.',
    }),
    lastResize: Type.Optional(
      Type.Object(
        {
          from: Type.Integer({ minimum: 1 }),
          to: Type.Integer({ minimum: 1 }),
          reason: Type.String(),
          time: DateTime(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type GroupStatus = Static<typeof GroupStatusSchema>;

export const TrainingRecipeStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(PHASES)),
    conditions: Type.Optional(
      Type.Array(ConditionSchema, {
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ),
    progress: Type.Optional(ProgressStatusSchema),
    workerThreads: Type.Optional(WorkerThreadsStatusSchema),
    metrics: Type.Optional(MetricsStatusSchema),
    lastCheckpoint: Type.Optional(CheckpointRefSchema),
    goodput: Type.Optional(GoodputSchema),
    stragglers: Type.Optional(Type.Array(StragglerSchema, { maxItems: 64 })),
    weights: Type.Optional(
      Type.String({ description: 'URI of the published weights (model.safetensors + meta.json).' }),
    ),
    message: Type.Optional(
      Type.String({
        description:
          'Why the recipe is where it is, in one line: waiting for Kueue admission (queue, reason), unschedulable (the scheduler message), waiting under maxWaitSeconds, restarting (why, how often), with an ETA.',
      }),
    ),
    seeds: Type.Optional(
      Type.Array(SeedRunStatusSchema, {
        description: 'With spec.seeds: one entry per seed, in the order of spec.seeds.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['seed'],
      }),
    ),
    summary: Type.Optional(SeedSummarySchema),
    eval: Type.Optional(EvalStatusSchema),
    restarts: Type.Optional(Type.Integer({ minimum: 0 })),
    group: Type.Optional(GroupStatusSchema),
    groupGeneration: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'Worker groups created so far; pods carry it as a label and in RINGMASTER_GENERATION.',
      }),
    ),
    startTime: Type.Optional(DateTime()),
    completionTime: Type.Optional(DateTime()),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type TrainingRecipeStatus = Static<typeof TrainingRecipeStatusSchema>;

/** status.phase values. */
export const Phase = Object.freeze({
  Pending: 'Pending',
  Starting: 'Starting',
  Running: 'Running',
  Restarting: 'Restarting',
  Suspended: 'Suspended',
  Requeued: 'Requeued',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
} as const satisfies Record<Phase, Phase>);

/** status.conditions[].type values. */
export const ConditionType = Object.freeze({
  /** Children (Secret, ConfigMap, Service, Pods) exist for the current generation. */
  Created: 'Created',
  /** Every worker pod is running. */
  Running: 'Running',
  /** The group is being restarted from the last checkpoint. */
  Restarting: 'Restarting',
  /**
   * spec.runPolicy.suspend is true and the pods are gone (reason SuspendedByUser), or Kueue
   * has not admitted the group yet (Kueue's reason, e.g. Pending or Inadmissible).
   */
  Suspended: 'Suspended',
  /** Kueue evicted the group (Kueue's reason, e.g. Preempted); False once readmitted. */
  Requeued: 'Requeued',
  /** Training finished and the weights are published. Terminal. */
  Succeeded: 'Succeeded',
  /** Training cannot finish. Terminal. */
  Failed: 'Failed',
  /**
   * False when the run policy does not fit what the group measured: a hang timeout shorter
   * than a step, a grace period shorter than a step plus a checkpoint.
   */
  RunPolicyFits: 'RunPolicyFits',
  /**
   * True while the group restarts at another size (runPolicy.elastic, or spec.workers
   * changed); the message says from and to. False once the group of the new size runs.
   */
  Resizing: 'Resizing',
} as const);
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** status.conditions[].reason values (CamelCase, as the API conventions ask). */
export const Reason = Object.freeze({
  ChildrenCreated: 'ChildrenCreated',
  PodsPending: 'PodsPending',
  AllWorkersRunning: 'AllWorkersRunning',
  WorkerFailed: 'WorkerFailed',
  WorkerPreempted: 'WorkerPreempted',
  RestartingFromCheckpoint: 'RestartingFromCheckpoint',
  BackoffLimitExceeded: 'BackoffLimitExceeded',
  DeadlineExceeded: 'DeadlineExceeded',
  MaxWaitExceeded: 'MaxWaitExceeded',
  InvalidRecipe: 'InvalidRecipe',
  /** A worker exited with ExitCode.invalidInput: retrying cannot help. */
  WorkerInvalidInput: 'WorkerInvalidInput',
  TrainingCompleted: 'TrainingCompleted',
  /** spec.mode eval: the workers scored the weights; status.eval holds the figures. */
  EvaluationCompleted: 'EvaluationCompleted',
  SuspendedByUser: 'SuspendedByUser',
  Resumed: 'Resumed',
  /** All pods are bound to nodes; some containers are not running yet. */
  ContainersStarting: 'ContainersStarting',
  /**
   * A worker's image cannot be pulled (ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
   * InvalidImageName): the message names the image. The kubelet keeps retrying; the recipe
   * waits (runPolicy.maxWaitSeconds fails it).
   */
  ImagePullFailed: 'ImagePullFailed',
  /** The group was stopped (restart, suspension or the end of the run). */
  GroupStopped: 'GroupStopped',
  /** A worker's node stayed NotReady past the grace: the group restarts. */
  NodeLost: 'NodeLost',
  /** A worker pod was deleted by someone else: the group restarts. */
  PodDeleted: 'PodDeleted',
  /** The next group was created after a restart. */
  GroupRecreated: 'GroupRecreated',
  /** The API server refused a worker pod (e.g. an invalid resource quantity). */
  PodCreateFailed: 'PodCreateFailed',
  /** spec.seeds: a seed's child TrainingRecipe was created. */
  SeedRunCreated: 'SeedRunCreated',
  /** spec.seeds: some seeds' runs are active. */
  SeedsRunning: 'SeedsRunning',
  /** spec.seeds: every seed's run succeeded; status.summary holds the statistics. */
  AllSeedsSucceeded: 'AllSeedsSucceeded',
  /** spec.seeds: every seed's run finished and at least one failed (not in the summary). */
  SeedsFailed: 'SeedsFailed',
  /** A rank made no progress for the hang timeout: the whole group restarts. */
  HangDetected: 'HangDetected',
  /** A worker stopped on SIGTERM after writing a checkpoint (pod deleted, node drained). */
  WorkerStopped: 'WorkerStopped',
  /** Some rank's step time is > 1.5× its peers' median (events; status.stragglers). */
  StragglerDetected: 'StragglerDetected',
  /** RunPolicyFits: the measured step and checkpoint times fit the policy (or are unknown). */
  PolicyFits: 'PolicyFits',
  HangTimeoutTooShort: 'HangTimeoutTooShort',
  GracePeriodTooShort: 'GracePeriodTooShort',
  /** Kueue: the group's Workload does not exist yet (Kueue creates it from the pods). */
  WaitingForWorkload: 'WaitingForWorkload',
  /** Kueue admitted the group (Suspended False). */
  Admitted: 'Admitted',
  /** The pods carry a queue but Kueue's webhook did not gate them (namespace not managed). */
  NotManagedByKueue: 'NotManagedByKueue',
  /** Kueue admitted the group again after an eviction (Requeued False). */
  Readmitted: 'Readmitted',
  /** Resizing: workers were lost (node lost, pods unschedulable past runPolicy.elastic.graceSeconds). */
  CapacityLost: 'CapacityLost',
  /** Resizing: capacity probes for the missing workers ran for graceSeconds: the group grows. */
  CapacityReturned: 'CapacityReturned',
  /** Resizing: spec.workers changed on a running recipe (the global batch changes with it). */
  WorkersChanged: 'WorkersChanged',
  /** Resizing is False: the group of the new size is running. */
  Resized: 'Resized',
  /** Events only: ttlSecondsAfterFinished passed; pod stuck Terminating force-deleted. */
  CleanedUp: 'CleanedUp',
  ForceDeleted: 'ForceDeleted',
} as const);
export type Reason = (typeof Reason)[keyof typeof Reason];
