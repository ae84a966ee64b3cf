/**
 * One violating spec per cross-field rule (api/rules.ts), merged over a minimal
 * valid spec. Shared by the unit tests (TS predicates) and the API-server test (CEL), so both
 * forms of each rule are held to the same cases.
 */
export const minimalSpec = () => ({
  data: { train: 's3://bucket/train', val: 's3://bucket/val' },
  output: 's3://bucket/out',
});

export const RULE_CASES: ReadonlyArray<{
  id: string;
  spec: Record<string, unknown>;
  path: string;
}> = [
  {
    id: 'valCropWithinResize',
    spec: { recipe: { valCropSize: 240, valResizeSize: 232 } },
    path: 'spec.recipe.valCropSize',
  },
  {
    id: 'warmupShorterThanTraining',
    spec: { recipe: { epochs: 5, lrWarmupEpochs: 5 } },
    path: 'spec.recipe.lrWarmupEpochs',
  },
  {
    id: 'raRepsWithRaSampler',
    spec: { recipe: { raSampler: true, raReps: 0 } },
    path: 'spec.recipe.raReps',
  },
  { id: 'lrMinBelowLr', spec: { recipe: { lr: 0.1, lrMin: 0.2 } }, path: 'spec.recipe.lrMin' },
  {
    id: 'gpusFromGpusPerWorker',
    spec: { resources: { limits: { 'nvidia.com/gpu': 1 } } },
    path: 'spec.resources',
  },
  {
    id: 'endpointNeedsS3',
    spec: {
      data: { train: '/data/train', val: '/data/val', endpoint: 'http://minio:9000' },
      output: '/out',
    },
    path: 'spec.data.endpoint',
  },
  { id: 'seedsDistinct', spec: { seeds: [0, 1, 0] }, path: 'spec.seeds' },
  {
    id: 'hangTimeoutWithinDeadline',
    spec: { runPolicy: { hangTimeoutSeconds: 600, activeDeadlineSeconds: 600 } },
    path: 'spec.runPolicy.hangTimeoutSeconds',
  },
  {
    id: 'elasticMinWithinMax',
    spec: { workers: 4, runPolicy: { elastic: { minWorkers: 4, maxWorkers: 2 } } },
    path: 'spec.runPolicy.elastic.minWorkers',
  },
  {
    id: 'elasticMaxWithinWorkers',
    spec: { workers: 2, runPolicy: { elastic: { minWorkers: 1, maxWorkers: 4 } } },
    path: 'spec.runPolicy.elastic.maxWorkers',
  },
  {
    id: 'elasticSizesKeepGlobalBatch',
    spec: { workers: 8, runPolicy: { elastic: { minWorkers: 3, maxWorkers: 8 } } },
    path: 'spec.runPolicy.elastic',
  },
  { id: 'trainDataToTrain', spec: { data: { val: 's3://b/v' } }, path: 'spec.data.train' },
  { id: 'evalModeNeedsEval', spec: { mode: 'eval' }, path: 'spec.eval' },
  {
    id: 'evalWithoutSeeds',
    spec: { mode: 'eval', eval: { weights: 's3://b/w' }, seeds: [0, 1] },
    path: 'spec.seeds',
  },
  {
    id: 'resizeGridOrdered',
    spec: { mode: 'eval', eval: { weights: 's3://b/w', resizeGrid: { start: 40, end: 32 } } },
    path: 'spec.eval.resizeGrid.end',
  },
  {
    id: 'resizeGridPoints',
    spec: {
      mode: 'eval',
      eval: { weights: 's3://b/w', resizeGrid: { start: 200, end: 265, step: 1 } },
    },
    path: 'spec.eval.resizeGrid.step',
  },
  {
    id: 'resizeGridOnBothHalves',
    spec: {
      mode: 'eval',
      eval: { weights: 's3://b/w', resizeGrid: { start: 224, end: 256 }, split: 'even' },
    },
    path: 'spec.eval.split',
  },
  {
    id: 'writeMetaNeedsGrid',
    spec: { mode: 'eval', eval: { weights: 's3://b/w', writeMeta: true } },
    path: 'spec.eval.writeMeta',
  },
];

/** Specs at the edge of each rule: valid. */
export const RULE_EDGES: ReadonlyArray<Record<string, unknown>> = [
  { recipe: { valCropSize: 232, valResizeSize: 232 } },
  { recipe: { epochs: 6, lrWarmupEpochs: 5 } },
  { recipe: { raSampler: false, raReps: 0 } },
  { recipe: { lr: 0.1, lrMin: 0.1 } },
  { resources: { limits: { cpu: '4', memory: '8Gi' }, requests: { cpu: 2 } } },
  { data: { train: 's3://b/t', val: '/v', endpoint: 'http://minio:9000' } },
  { seeds: [2, 0, 1], parallelism: 3 },
  { runPolicy: { hangTimeoutSeconds: 599, activeDeadlineSeconds: 600 } },
  { runPolicy: { hangTimeoutSeconds: 600, terminationGracePeriodSeconds: 600 } },
  { workers: 8, runPolicy: { elastic: { minWorkers: 2, maxWorkers: 8 } } },
  { workers: 6, runPolicy: { elastic: { minWorkers: 3, maxWorkers: 3 } } },
  // An eval-only recipe needs no training data; its weights alone may be the s3:// URI.
  {
    mode: 'eval',
    eval: { weights: 's3://b/w', resizeGrid: { start: 224, end: 224 }, writeMeta: true },
    data: { val: '/v', endpoint: 'http://minio:9000' },
    output: '/o',
  },
  { mode: 'eval', eval: { weights: 's3://b/w', split: 'odd' } },
  // 64 points exactly.
  { mode: 'eval', eval: { weights: 's3://b/w', resizeGrid: { start: 200, end: 263, step: 1 } } },
];
