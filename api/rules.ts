/**
 * Rules that relate two or more fields. Each is written twice on purpose, side by side: as a
 * CEL expression the API server evaluates (`x-kubernetes-validations` in the CRD) and as a
 * predicate the trainer and the CLI evaluate. Keeping both in one table makes a mismatch
 * visible in review; tests check every predicate.
 *
 * Predicates see a value that already passed the schema and got its defaults, which is also
 * what CEL sees (the API server defaults before it validates).
 */
import { describeFeasibleSizes } from './elastic.js';

/** Bound on resize-grid points (every point is two passes over half of the split). */
export const MAX_GRID_POINTS = 64;

export type RuleScope = 'recipe' | 'spec';

export interface CrossFieldRule {
  readonly id: string;
  /** Object the rule is attached to: `spec.recipe` or `spec`. */
  readonly scope: RuleScope;
  /** Field reported as the culprit, relative to the scope object. */
  readonly field: string;
  /** Fields the rule reads; it is skipped while any of them has a schema error. */
  readonly uses: readonly string[];
  readonly message: string;
  /**
   * The message with the values in it, for the trainer and the CLI. (A CEL messageExpression
   * with string(int) concatenations was refused by the API server's cost estimate.)
   */
  readonly describe?: (self: any) => string;
  /** CEL over `self` = the scope object. */
  readonly cel: string;
  readonly check: (self: any) => boolean;
}

const hasKey = (obj: unknown, key: string): boolean =>
  typeof obj === 'object' && obj !== null && Object.prototype.hasOwnProperty.call(obj, key);

const isS3 = (uri: unknown): boolean => typeof uri === 'string' && uri.startsWith('s3://');

export const CROSS_FIELD_RULES: readonly CrossFieldRule[] = Object.freeze([
  {
    id: 'valCropWithinResize',
    uses: ['valCropSize', 'valResizeSize'],
    scope: 'recipe',
    field: 'valCropSize',
    message: 'valCropSize must be ≤ valResizeSize (the crop is taken from the resized image)',
    cel: 'self.valCropSize <= self.valResizeSize',
    check: (r) => r.valCropSize <= r.valResizeSize,
  },
  {
    id: 'warmupShorterThanTraining',
    uses: ['lrWarmupEpochs', 'epochs'],
    scope: 'recipe',
    field: 'lrWarmupEpochs',
    message: 'lrWarmupEpochs must be < epochs (the main schedule needs at least one epoch)',
    cel: 'self.lrWarmupEpochs < self.epochs',
    check: (r) => r.lrWarmupEpochs < r.epochs,
  },
  {
    id: 'raRepsWithRaSampler',
    uses: ['raSampler', 'raReps'],
    scope: 'recipe',
    field: 'raReps',
    message: 'raReps must be ≥ 1 when raSampler is on',
    cel: '!self.raSampler || self.raReps >= 1',
    check: (r) => !r.raSampler || r.raReps >= 1,
  },
  {
    id: 'lrMinBelowLr',
    uses: ['lrMin', 'lr'],
    scope: 'recipe',
    field: 'lrMin',
    message: 'lrMin must be ≤ lr (cosine annealing goes down from lr to lrMin)',
    cel: 'self.lrMin <= self.lr',
    check: (r) => r.lrMin <= r.lr,
  },
  {
    id: 'gpusFromGpusPerWorker',
    uses: ['resources'],
    scope: 'spec',
    field: 'resources',
    message: 'do not set nvidia.com/gpu in resources; use gpusPerWorker',
    cel:
      "!has(self.resources) || ((!has(self.resources.limits) || !('nvidia.com/gpu' in self.resources.limits)) && " +
      "(!has(self.resources.requests) || !('nvidia.com/gpu' in self.resources.requests)))",
    check: (s) =>
      !hasKey(s.resources?.limits, 'nvidia.com/gpu') &&
      !hasKey(s.resources?.requests, 'nvidia.com/gpu'),
  },
  {
    id: 'endpointNeedsS3',
    uses: ['data', 'output'],
    scope: 'spec',
    field: 'data.endpoint',
    message: 'data.endpoint applies to s3:// URIs, but neither data nor output uses one',
    cel:
      "!has(self.data.endpoint) || (has(self.data.train) && self.data.train.startsWith('s3://')) || " +
      "self.data.val.startsWith('s3://') || self.output.startsWith('s3://') || " +
      "(has(self.eval) && self.eval.weights.startsWith('s3://'))",
    check: (s) =>
      s.data?.endpoint === undefined ||
      isS3(s.data?.train) ||
      isS3(s.data?.val) ||
      isS3(s.output) ||
      isS3(s.eval?.weights),
  },
  {
    id: 'trainDataToTrain',
    uses: ['mode', 'data'],
    scope: 'spec',
    field: 'data.train',
    message: 'data.train is required to train (only mode: eval goes without it)',
    cel: "self.mode == 'eval' || has(self.data.train)",
    check: (s) => s.mode === 'eval' || s.data?.train !== undefined,
  },
  {
    id: 'evalModeNeedsEval',
    uses: ['mode', 'eval'],
    scope: 'spec',
    field: 'eval',
    message: 'mode: eval needs spec.eval (at least eval.weights), and spec.eval needs mode: eval',
    cel: "(self.mode == 'eval') == has(self.eval)",
    check: (s) => (s.mode === 'eval') === (s.eval !== undefined),
  },
  {
    id: 'evalWithoutSeeds',
    uses: ['mode', 'seeds'],
    scope: 'spec',
    field: 'seeds',
    message: 'seeds train one run per seed; an eval-only recipe (mode: eval) takes none',
    cel: "self.mode != 'eval' || !has(self.seeds)",
    check: (s) => s.mode !== 'eval' || s.seeds === undefined,
  },
  {
    id: 'resizeGridOrdered',
    uses: ['eval'],
    scope: 'spec',
    field: 'eval.resizeGrid.end',
    message: 'eval.resizeGrid.end must be ≥ eval.resizeGrid.start',
    cel: '!has(self.eval) || !has(self.eval.resizeGrid) || self.eval.resizeGrid.end >= self.eval.resizeGrid.start',
    check: (s) =>
      s.eval?.resizeGrid === undefined || s.eval.resizeGrid.end >= s.eval.resizeGrid.start,
  },
  {
    id: 'resizeGridPoints',
    uses: ['eval'],
    scope: 'spec',
    field: 'eval.resizeGrid.step',
    message: `eval.resizeGrid has more than ${MAX_GRID_POINTS} points; use a larger step`,
    cel:
      '!has(self.eval) || !has(self.eval.resizeGrid) || ' +
      `(self.eval.resizeGrid.end - self.eval.resizeGrid.start) / self.eval.resizeGrid.step < ${MAX_GRID_POINTS}`,
    check: (s) =>
      s.eval?.resizeGrid === undefined ||
      Math.floor((s.eval.resizeGrid.end - s.eval.resizeGrid.start) / s.eval.resizeGrid.step) <
        MAX_GRID_POINTS,
  },
  {
    id: 'resizeGridOnBothHalves',
    uses: ['eval'],
    scope: 'spec',
    field: 'eval.split',
    message:
      'eval.resizeGrid uses both halves (even selects, odd confirms): eval.split must be all',
    cel: "!has(self.eval) || !has(self.eval.resizeGrid) || self.eval.split == 'all'",
    check: (s) => s.eval?.resizeGrid === undefined || s.eval.split === 'all',
  },
  {
    id: 'writeMetaNeedsGrid',
    uses: ['eval'],
    scope: 'spec',
    field: 'eval.writeMeta',
    message: 'eval.writeMeta records a tuned resize: it needs eval.resizeGrid',
    cel: '!has(self.eval) || !self.eval.writeMeta || has(self.eval.resizeGrid)',
    check: (s) => s.eval === undefined || !s.eval.writeMeta || s.eval.resizeGrid !== undefined,
  },
  {
    id: 'seedsDistinct',
    uses: ['seeds'],
    scope: 'spec',
    field: 'seeds',
    message: 'seeds must be distinct (two runs of one seed train the same model)',
    cel: '!has(self.seeds) || self.seeds.all(s, self.seeds.exists_one(t, t == s))',
    check: (s) => s.seeds === undefined || new Set(s.seeds).size === s.seeds.length,
  },
  {
    id: 'hangTimeoutWithinDeadline',
    uses: ['runPolicy'],
    scope: 'spec',
    field: 'runPolicy.hangTimeoutSeconds',
    message:
      'runPolicy.hangTimeoutSeconds must be < runPolicy.activeDeadlineSeconds (a hang that long could never be detected)',
    cel:
      '!has(self.runPolicy.hangTimeoutSeconds) || !has(self.runPolicy.activeDeadlineSeconds) || ' +
      'self.runPolicy.hangTimeoutSeconds < self.runPolicy.activeDeadlineSeconds',
    check: (s) =>
      s.runPolicy?.hangTimeoutSeconds === undefined ||
      s.runPolicy?.activeDeadlineSeconds === undefined ||
      s.runPolicy.hangTimeoutSeconds < s.runPolicy.activeDeadlineSeconds,
  },
  {
    id: 'elasticMinWithinMax',
    uses: ['runPolicy'],
    scope: 'spec',
    field: 'runPolicy.elastic.minWorkers',
    message: 'runPolicy.elastic.minWorkers must be ≤ runPolicy.elastic.maxWorkers',
    cel:
      '!has(self.runPolicy.elastic) || ' +
      'self.runPolicy.elastic.minWorkers <= self.runPolicy.elastic.maxWorkers',
    check: (s) =>
      s.runPolicy?.elastic === undefined ||
      s.runPolicy.elastic.minWorkers <= s.runPolicy.elastic.maxWorkers,
  },
  {
    id: 'elasticMaxWithinWorkers',
    uses: ['runPolicy', 'workers'],
    scope: 'spec',
    field: 'runPolicy.elastic.maxWorkers',
    message:
      'runPolicy.elastic.maxWorkers must be ≤ workers (workers sets the global batch; a rank’s batch is never split across pods)',
    cel: '!has(self.runPolicy.elastic) || self.runPolicy.elastic.maxWorkers <= self.workers',
    check: (s) => s.runPolicy?.elastic === undefined || s.runPolicy.elastic.maxWorkers <= s.workers,
  },
  {
    id: 'elasticSizesKeepGlobalBatch',
    uses: ['runPolicy', 'workers'],
    scope: 'spec',
    field: 'runPolicy.elastic',
    message:
      'runPolicy.elastic.minWorkers and maxWorkers must divide workers: a group of w pods runs ' +
      'workers/w original ranks each as accumulation micro-steps, which keeps the global batch ' +
      'only when w divides workers',
    describe: (s) =>
      `minWorkers ${s.runPolicy.elastic.minWorkers} and maxWorkers ${s.runPolicy.elastic.maxWorkers} ` +
      `must divide workers (${s.workers}) to keep the global batch of ${s.workers} × batchSize ` +
      `(a group of w pods runs ${s.workers}/w original ranks each as accumulation micro-steps); ` +
      `sizes that work: ${describeFeasibleSizes(s.workers)}`,
    // A maxWorkers above workers is elasticMaxWithinWorkers' to report.
    cel:
      '!has(self.runPolicy.elastic) || self.runPolicy.elastic.maxWorkers > self.workers || ' +
      '(self.workers % self.runPolicy.elastic.minWorkers == 0 && ' +
      'self.workers % self.runPolicy.elastic.maxWorkers == 0)',
    check: (s) =>
      s.runPolicy?.elastic === undefined ||
      s.runPolicy.elastic.maxWorkers > s.workers ||
      (s.workers % s.runPolicy.elastic.minWorkers === 0 &&
        s.workers % s.runPolicy.elastic.maxWorkers === 0),
  },
]);

/** The CRD form of the rules attached to one object. */
export function celRulesFor(scope: RuleScope): Array<{ rule: string; message: string }> {
  return CROSS_FIELD_RULES.filter((r) => r.scope === scope).map((r) => ({
    rule: r.cel,
    message: r.message,
  }));
}
