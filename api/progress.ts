/**
 * `<output>/progress.json` (PROGRESS_FILE), the one channel from a running group to the
 * operator: rank 0 writes a `Progress` (trainer/report/progress.ts), the operator reads it
 * through storage (operator/progress.ts) and copies what `sanitizeProgress` keeps into the
 * recipe's status, so workers need no access to the Kubernetes API. The reader trusts
 * nothing: a file from another version, or half-garbled, gives fewer fields, never an error.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DateTime } from './schema.js';
import {
  EvalStatusSchema,
  type EvalStatus,
  type CheckpointRef,
  Goodput,
  RecipeMetrics,
  RecipeProgress,
  WorkerThreads,
} from './status.js';

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

function RankReportSchema() {
  return Type.Object({
    rank: Type.Integer({ minimum: 0 }),
    /** Steps this rank completed in the current group's epoch-independent count. */
    step: Type.Integer({ minimum: 0 }),
    /** Median of the rank's own part of a step (data + forward/backward; no waiting on peers). */
    p50StepSeconds: Type.Number({ minimum: 0 }),
    /** 99th percentile of the whole step (what the hang timeout is derived from). */
    p99StepSeconds: Type.Number({ minimum: 0 }),
  });
}
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
  /** The last complete checkpoint (a bare URI in files of older versions). */
  lastCheckpoint: Type.Union([
    NullableString,
    Type.Object({
      uri: Type.String(),
      epoch: Type.Integer({ minimum: 0 }),
      /** Optimizer steps over the whole run. */
      step: Type.Integer({ minimum: 0 }),
      time: DateTime(),
    }),
  ]),
  /** How long the last checkpoint took to write (the grace period must cover it). */
  checkpointSeconds: Type.Optional(NullableNumber),
  /** Steps computed and kept over every group of this run (api/status.ts GoodputSchema). */
  goodput: Type.Optional(
    Type.Object({
      stepsComputed: Type.Integer({ minimum: 0 }),
      stepsKept: Type.Integer({ minimum: 0 }),
      secondsLost: Type.Number({ minimum: 0 }),
      /** The ledger continues only across groups of the same recipe. */
      recipeHash: Type.String(),
      /** The group's median step, seconds: prices the steps a restart throws away. */
      stepSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    }),
  ),
  /** Every rank's step as the coordinator last heard it (rank 0 knows them all). */
  ranks: Type.Optional(Type.Array(RankReportSchema())),
  /** URI of the published weights, once there are any. */
  weights: NullableString,
  /** How rank 0 spends its cores (absent in files of older workers). */
  threads: Type.Optional(
    Type.Object({
      cores: Type.Integer({ minimum: 1 }),
      coresSource: Type.String(),
      computeThreads: Type.Integer({ minimum: 0 }),
      loaderWorkers: Type.Integer({ minimum: 0 }),
      prefetchBatches: Type.Integer({ minimum: 0 }),
      loaderSource: Type.Union([Type.Literal('spec'), Type.Literal('derived')]),
    }),
  ),
  /** An eval-only recipe's results (spec.mode: eval), once rank 0 has them. */
  eval: Type.Optional(EvalStatusSchema),
  updatedAt: DateTime(),
});
export type Progress = Static<typeof ProgressFileSchema>;

export type RankReport = Static<ReturnType<typeof RankReportSchema>>;

/** What the operator takes from the file: fields of the status schema, each optional. */
export interface ProgressReport extends RecipeProgress {
  metrics?: RecipeMetrics;
  lastCheckpoint?: CheckpointRef;
  weights?: string;
  workerThreads?: WorkerThreads;
  updatedAt?: string;
  goodput?: Goodput;
  ranks?: RankReport[];
  checkpointSeconds?: number;
  eval?: EvalStatus;
  /** What rank 0 was doing at `updatedAt` (hangs are timed only while 'training'). */
  reportedPhase?: Progress['phase'];
}

/** Without runPolicy.hangTimeoutSeconds: this many times the slowest rank's p99 step … */
export const HANG_FACTOR = 10;
/** … but never less than this many seconds (a busy node, a slow storage read, GC). */
export const HANG_FLOOR_SECONDS = 60;

/** The hang timeout in seconds: the explicit one, else derived from measured p99 steps. */
export function hangTimeoutSeconds(
  explicit: number | undefined,
  p99StepSeconds: readonly number[],
): number | undefined {
  if (explicit !== undefined) return explicit;
  if (p99StepSeconds.length === 0) return undefined;
  return Math.max(HANG_FLOOR_SECONDS, HANG_FACTOR * Math.max(...p99StepSeconds));
}

/** A rank is a straggler when its p50 exceeds this many times its peers' median. */
export const STRAGGLER_FACTOR = 1.5;

/**
 * Ranks whose own step time (p50) is more than STRAGGLER_FACTOR × the median of the other
 * ranks' p50 — the other ranks, not the whole group, so that with two ranks the slow one is
 * compared with its peer rather than with an average that contains itself.
 */
export function findStragglers(
  ranks: readonly Pick<RankReport, 'rank' | 'p50StepSeconds'>[],
  factor = STRAGGLER_FACTOR,
): Array<{ rank: number; p50StepSeconds: number; ratio: number }> {
  const out: Array<{ rank: number; p50StepSeconds: number; ratio: number }> = [];
  if (ranks.length < 2) return out;
  for (const r of ranks) {
    const others = ranks.filter((o) => o.rank !== r.rank).map((o) => o.p50StepSeconds);
    const m = median(others);
    if (m > 0 && r.p50StepSeconds > factor * m) {
      out.push({
        rank: r.rank,
        p50StepSeconds: r.p50StepSeconds,
        ratio: Math.round((r.p50StepSeconds / m) * 100) / 100,
      });
    }
  }
  return out;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** steps kept ÷ steps computed, rounded to 4 digits; 1 before any step. */
export function goodputRatio(stepsKept: number, stepsComputed: number): number {
  if (stepsComputed <= 0) return 1;
  return Math.round(Math.min(1, stepsKept / stepsComputed) * 10_000) / 10_000;
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
  const cs = nonneg(r.checkpointSeconds);
  if (cs !== undefined) out.checkpointSeconds = Math.round(cs * 100) / 100;
  const g = r.goodput;
  if (g && typeof g === 'object') {
    const o = g as Record<string, unknown>;
    const computed = int(o.stepsComputed);
    const kept = int(o.stepsKept);
    const lost = nonneg(o.secondsLost);
    if (computed !== undefined && kept !== undefined) {
      out.goodput = {
        ratio: goodputRatio(kept, computed),
        stepsComputed: computed,
        stepsKept: kept,
        ...(lost !== undefined ? { secondsLost: Math.round(lost * 10) / 10 } : {}),
      };
    }
  }
  if (Array.isArray(r.ranks)) {
    const ranks: RankReport[] = [];
    for (const x of r.ranks.slice(0, 4096)) {
      if (!x || typeof x !== 'object') continue;
      const o = x as Record<string, unknown>;
      const rank = int(o.rank);
      const step = int(o.step);
      const p50 = nonneg(o.p50StepSeconds);
      const p99 = nonneg(o.p99StepSeconds);
      if (rank === undefined || step === undefined || p50 === undefined || p99 === undefined)
        continue;
      ranks.push({ rank, step, p50StepSeconds: p50, p99StepSeconds: p99 });
    }
    if (ranks.length > 0) out.ranks = ranks;
  }
  const threads = sanitizeThreads(r.threads, int);
  if (threads) out.workerThreads = threads;
  if (typeof r.updatedAt === 'string') out.updatedAt = r.updatedAt;
  // All or nothing: the status schema's own check, so what lands in status.eval is valid.
  if (r.eval !== undefined && Value.Check(EvalStatusSchema, r.eval))
    out.eval = structuredClone(r.eval);
  if (
    r.phase === 'training' ||
    r.phase === 'evaluating' ||
    r.phase === 'checkpointing' ||
    r.phase === 'done'
  )
    out.reportedPhase = r.phase;
  return out;
}

/**
 * What a failed worker writes as its pod's termination message (one JSON line): the operator
 * reads it back from the pod status to name the reason and the rank to blame.
 */
export interface TerminationNote {
  reason: 'HangDetected' | 'WorkerFailed';
  exitCode: number;
  /** The rank to blame, when the failure names one (a peer that died or hung). */
  rank?: number;
  message: string;
}

/** The note in a termination message, or undefined when it is not one (e.g. a log tail). */
export function parseTerminationNote(text: string | undefined): TerminationNote | undefined {
  if (!text) return undefined;
  const line = text.trim();
  if (!line.startsWith('{')) return undefined;
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o.reason !== 'HangDetected' && o.reason !== 'WorkerFailed') return undefined;
    if (typeof o.message !== 'string' || typeof o.exitCode !== 'number') return undefined;
    const rank =
      typeof o.rank === 'number' && Number.isInteger(o.rank) && o.rank >= 0 ? o.rank : undefined;
    return {
      reason: o.reason,
      exitCode: o.exitCode,
      message: o.message,
      ...(rank !== undefined ? { rank } : {}),
    };
  } catch {
    return undefined;
  }
}

function sanitizeThreads(
  raw: unknown,
  int: (v: unknown) => number | undefined,
): WorkerThreads | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const t = raw as Record<string, unknown>;
  const out: WorkerThreads = {};
  const cores = int(t.cores);
  if (cores !== undefined && cores >= 1) out.cores = cores;
  for (const k of ['computeThreads', 'loaderWorkers', 'prefetchBatches'] as const) {
    const v = int(t[k]);
    if (v !== undefined) out[k] = v;
  }
  if (typeof t.coresSource === 'string') out.coresSource = t.coresSource.slice(0, 100);
  if (t.loaderSource === 'spec' || t.loaderSource === 'derived') out.loaderSource = t.loaderSource;
  return Object.keys(out).length > 0 ? out : undefined;
}
