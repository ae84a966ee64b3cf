import { strict as assert } from 'node:assert';
import { Value } from '@sinclair/typebox/value';
import {
  findStragglers,
  goodputRatio,
  parseTerminationNote,
  ProgressFileSchema,
  sanitizeProgress,
  type Progress,
} from '../../../api/progress.js';
import { TrainingRecipeStatusSchema } from '../../../api/status.js';

const written: Progress = {
  phase: 'training',
  epoch: 3,
  epochs: 10,
  step: 1234,
  totalSteps: 5000,
  imagesPerSec: 812.3456,
  etaSeconds: 77.6,
  loss: 2.5,
  lr: 0.4,
  metrics: { acc1: 61.2, acc5: 84.0, emaAcc1: null, emaAcc5: null },
  lastCheckpoint: 's3://runs/r/checkpoints/epoch-000003',
  weights: null,
  updatedAt: '2025-01-02T03:04:05.000Z',
};

describe('api/progress (progress.json)', () => {
  it('what rank 0 writes matches the file schema', () => {
    assert.ok(
      Value.Check(ProgressFileSchema, written),
      [...Value.Errors(ProgressFileSchema, written)].map((e) => e.path).join(),
    );
  });

  it('what the operator keeps from it is valid status', () => {
    const report = sanitizeProgress(JSON.parse(JSON.stringify(written)))!;
    const {
      metrics,
      lastCheckpoint,
      weights: _w,
      updatedAt: _u,
      reportedPhase,
      ...progress
    } = report;
    assert.equal(reportedPhase, 'training');
    const status = { progress, metrics, lastCheckpoint };
    assert.ok(Value.Check(TrainingRecipeStatusSchema, status));
    assert.deepEqual(progress, {
      epoch: 3,
      epochs: 10,
      step: 1234,
      totalSteps: 5000,
      imagesPerSec: 812.35,
      etaSeconds: 78,
    });
    assert.deepEqual(metrics, { acc1: 61.2, acc5: 84.0 });
    assert.deepEqual(lastCheckpoint, { uri: written.lastCheckpoint });
  });

  it('drops what the status schema would refuse', () => {
    const report = sanitizeProgress({ epoch: -1, step: 1.5, imagesPerSec: 'fast', extra: 1 });
    assert.deepEqual(report, {});
  });
});

describe("api/progress: an eval-only recipe's results", () => {
  const evalResult = {
    weights: 's3://runs/r/weights',
    split: 'all',
    resize: 36,
    crop: 32,
    ema: { acc1: 50, acc5: 90, count: 64 },
    tuning: {
      weights: 'ema' as const,
      grid: [
        {
          resize: 32,
          select: { acc1: 40, acc5: 90, count: 32 },
          confirm: { acc1: 45, acc5: 91, count: 32 },
        },
        {
          resize: 36,
          select: { acc1: 50, acc5: 92, count: 32 },
          confirm: { acc1: 50, acc5: 88, count: 32 },
        },
      ],
      chosen: 36,
      current: 36,
      confirmGain: 0,
      split: 'even sample index selects, odd confirms',
      metaWritten: 's3://runs/r/weights/meta.json',
    },
    report: 's3://runs/e/eval.json',
    workers: 2,
    seconds: 12.5,
  };

  it('rank 0 writes it in the file schema; the operator keeps it whole as status.eval', () => {
    const file: Progress = { ...written, phase: 'done', eval: evalResult };
    assert.ok(Value.Check(ProgressFileSchema, file));
    const report = sanitizeProgress(JSON.parse(JSON.stringify(file)))!;
    assert.deepEqual(report.eval, evalResult);
    assert.ok(Value.Check(TrainingRecipeStatusSchema, { eval: report.eval }));
  });

  it('drops a garbled result whole rather than half of it', () => {
    for (const bad of [
      { ...evalResult, ema: { acc1: 'high', acc5: 90, count: 64 } },
      { ...evalResult, workers: 0 },
      { ...evalResult, unknown: true },
      'done',
    ]) {
      assert.equal(sanitizeProgress({ ...written, eval: bad })!.eval, undefined);
    }
  });
});

describe('api/progress: shared-cluster fields', () => {
  const full: Progress = {
    ...written,
    lastCheckpoint: {
      uri: 's3://runs/r/checkpoints/epoch-000003-step-0000010',
      epoch: 3,
      step: 1234,
      time: '2025-01-02T03:04:00.000Z',
    },
    checkpointSeconds: 4.321,
    goodput: { stepsComputed: 1300, stepsKept: 1234, secondsLost: 95.27, recipeHash: 'h' },
    ranks: [
      { rank: 0, step: 1234, p50StepSeconds: 0.2, p99StepSeconds: 0.4 },
      { rank: 1, step: 1234, p50StepSeconds: 0.5, p99StepSeconds: 0.6 },
    ],
  };

  it('the file schema takes lastCheckpoint as an object, goodput and ranks', () => {
    assert.ok(
      Value.Check(ProgressFileSchema, full),
      [...Value.Errors(ProgressFileSchema, full)].map((e) => e.path).join(),
    );
  });

  it('the operator keeps goodput (with its ratio), ranks and the checkpoint time as valid status', () => {
    const r = sanitizeProgress(JSON.parse(JSON.stringify(full)))!;
    assert.deepEqual(r.goodput, {
      ratio: 0.9492,
      stepsComputed: 1300,
      stepsKept: 1234,
      secondsLost: 95.3,
    });
    assert.equal(r.checkpointSeconds, 4.32);
    assert.equal(r.ranks?.length, 2);
    assert.equal(r.lastCheckpoint?.time, '2025-01-02T03:04:00.000Z');
    assert.ok(
      Value.Check(TrainingRecipeStatusSchema, {
        goodput: r.goodput,
        lastCheckpoint: r.lastCheckpoint,
      }),
    );
    const garbled = sanitizeProgress({
      goodput: { stepsComputed: -1, stepsKept: 'x' },
      ranks: [{ rank: 'a' }, null, { rank: 1, step: 2, p50StepSeconds: 1, p99StepSeconds: 2 }],
    })!;
    assert.equal(garbled.goodput, undefined);
    assert.deepEqual(garbled.ranks, [{ rank: 1, step: 2, p50StepSeconds: 1, p99StepSeconds: 2 }]);
  });

  it('goodputRatio: kept ÷ computed, 1 before any step', () => {
    assert.equal(goodputRatio(0, 0), 1);
    assert.equal(goodputRatio(90, 100), 0.9);
  });

  it("finds stragglers against the median of the other ranks' p50", () => {
    const r = (p50: number[]) => p50.map((p50StepSeconds, rank) => ({ rank, p50StepSeconds }));
    // Two ranks: the slow one is compared with its peer (a whole-group median would contain it).
    assert.deepEqual(findStragglers(r([0.2, 0.4])), [{ rank: 1, p50StepSeconds: 0.4, ratio: 2 }]);
    assert.deepEqual(findStragglers(r([0.2, 0.29])), []);
    assert.deepEqual(
      findStragglers(r([0.2, 0.2, 0.21, 0.9])).map((s) => s.rank),
      [3],
    );
    assert.deepEqual(findStragglers(r([0.2])), []);
    assert.deepEqual(findStragglers(r([0, 0])), []);
  });

  it('reads a termination note back, and nothing from a log tail', () => {
    const note = { reason: 'HangDetected', exitCode: 76, rank: 3, message: 'hang: rank 3' };
    assert.deepEqual(parseTerminationNote(JSON.stringify(note) + '\n'), note);
    assert.equal(parseTerminationNote('{"level":50,"msg":"worker failed"}'), undefined);
    assert.equal(parseTerminationNote('Error: boom'), undefined);
    assert.equal(parseTerminationNote(undefined), undefined);
    const noRank = parseTerminationNote(JSON.stringify({ ...note, rank: -1 }))!;
    assert.equal(noRank.rank, undefined);
  });
});
