/**
 * `<output>/progress.json` (PROGRESS_FILE), the one channel from a running group to the
 * operator: rank 0 writes a `Progress` (trainer/report/progress.ts), the operator reads it
 * through storage (operator/progress.ts) and copies what `sanitizeProgress` keeps into the
 * recipe's status, so workers need no access to the Kubernetes API. The reader trusts
 * nothing: a file from another version, or half-garbled, gives fewer fields, never an error.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DateTime } from './schema.js';
import type { CheckpointRef, RecipeMetrics, RecipeProgress } from './status.js';

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);

/** What rank 0 writes. */
export const ProgressFileSchema = Type.Object({
  phase: Type.Union([
    Type.Literal('training'),
    Type.Literal('evaluating'),
    Type.Literal('checkpointing'),
    Type.Literal('done'),
  ]),
  /** Epochs completed. */
  epoch: Type.Integer({ minimum: 0 }),
  epochs: Type.Integer({ minimum: 0 }),
  /** Optimizer steps completed, over the whole run. */
  step: Type.Integer({ minimum: 0 }),
  totalSteps: Type.Integer({ minimum: 0 }),
  imagesPerSec: Type.Number({ minimum: 0 }),
  etaSeconds: NullableNumber,
  loss: NullableNumber,
  lr: Type.Number(),
  metrics: Type.Object({
    acc1: NullableNumber,
    acc5: NullableNumber,
    emaAcc1: NullableNumber,
    emaAcc5: NullableNumber,
  }),
  /** URI of the last complete checkpoint. */
  lastCheckpoint: NullableString,
  /** URI of the published weights, once there are any. */
  weights: NullableString,
  updatedAt: DateTime(),
});
export type Progress = Static<typeof ProgressFileSchema>;

/** What the operator takes from the file: fields of the status schema, each optional. */
export interface ProgressReport extends RecipeProgress {
  metrics?: RecipeMetrics;
  lastCheckpoint?: CheckpointRef;
  weights?: string;
  updatedAt?: string;
}

/** Turns whatever the file holds into fields the status schema accepts; drops the rest. */
export function sanitizeProgress(raw: unknown): ProgressReport | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const out: ProgressReport = {};
  const int = (v: unknown) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
  const nonneg = (v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  for (const k of ['epoch', 'epochs', 'step', 'totalSteps'] as const) {
    const v = int(r[k]);
    if (v !== undefined) out[k] = v;
  }
  const ips = nonneg(r.imagesPerSec);
  if (ips !== undefined) out.imagesPerSec = Math.round(ips * 100) / 100;
  const eta = nonneg(r.etaSeconds);
  if (eta !== undefined) out.etaSeconds = Math.round(eta);
  if (r.metrics && typeof r.metrics === 'object') {
    const m = r.metrics as Record<string, unknown>;
    const metrics: RecipeMetrics = {};
    for (const k of ['acc1', 'acc5', 'emaAcc1', 'emaAcc5'] as const) {
      const v = num(m[k]);
      if (v !== undefined) metrics[k] = v;
    }
    if (Object.keys(metrics).length > 0) out.metrics = metrics;
  }
  const lc = r.lastCheckpoint;
  if (typeof lc === 'string' && lc) out.lastCheckpoint = { uri: lc };
  else if (lc && typeof lc === 'object') {
    const c = lc as Record<string, unknown>;
    const ref: CheckpointRef = {};
    if (typeof c.uri === 'string') ref.uri = c.uri;
    if (int(c.epoch) !== undefined) ref.epoch = int(c.epoch);
    if (int(c.step) !== undefined) ref.step = int(c.step);
    if (typeof c.time === 'string' && !Number.isNaN(Date.parse(c.time)))
      ref.time = new Date(c.time).toISOString();
    if (Object.keys(ref).length > 0) out.lastCheckpoint = ref;
  }
  if (typeof r.weights === 'string' && r.weights) out.weights = r.weights;
  if (typeof r.updatedAt === 'string') out.updatedAt = r.updatedAt;
  return out;
}
