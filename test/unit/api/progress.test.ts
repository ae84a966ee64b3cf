import { strict as assert } from 'node:assert';
import { Value } from '@sinclair/typebox/value';
import { ProgressFileSchema, sanitizeProgress, type Progress } from '../../../api/progress.js';
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
    const { metrics, lastCheckpoint, weights: _w, updatedAt: _u, ...progress } = report;
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
