import type { Storage } from '../../common/storage/storage.js';

/**
 * `<output>/progress.json`, written by rank 0. The operator reads it to fill the recipe's
 * status, so workers need no access to the Kubernetes API.
 */
export interface Progress {
  phase: 'training' | 'evaluating' | 'checkpointing' | 'done';
  epoch: number;
  epochs: number;
  step: number;
  totalSteps: number;
  imagesPerSec: number;
  etaSeconds: number | null;
  loss: number | null;
  lr: number;
  metrics: {
    acc1: number | null;
    acc5: number | null;
    emaAcc1: number | null;
    emaAcc5: number | null;
  };
  lastCheckpoint: string | null;
  weights: string | null;
  updatedAt: string;
}

export const PROGRESS_FILE = 'progress.json';

/** Writes progress at most every `minIntervalMs`, except when forced (epoch ends, done). */
export class ProgressFile {
  private lastWrite = 0;
  private pending: Promise<void> = Promise.resolve();
  constructor(
    private readonly storage: Storage,
    private readonly minIntervalMs = 10_000,
  ) {}

  update(p: Omit<Progress, 'updatedAt'>, force = false): Promise<void> {
    const now = Date.now();
    if (!force && now - this.lastWrite < this.minIntervalMs) return this.pending;
    this.lastWrite = now;
    const body = Buffer.from(JSON.stringify({ ...p, updatedAt: new Date(now).toISOString() }));
    // Writes are serialized; a failed progress write must never stop training.
    this.pending = this.pending
      .then(() => this.storage.put(PROGRESS_FILE, body, { contentType: 'application/json' }))
      .catch(() => undefined);
    return this.pending;
  }
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** One line for the live terminal display. */
export function formatProgressLine(p: {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number | null;
  lr: number;
  imagesPerSec: number;
  etaSeconds: number | null;
}): string {
  const width = 20;
  const frac = p.steps > 0 ? Math.min(1, p.step / p.steps) : 0;
  const filled = Math.round(frac * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  return (
    `epoch ${p.epoch + 1}/${p.epochs} ${bar} ${p.step}/${p.steps}` +
    `  loss ${p.loss === null ? '-' : p.loss.toFixed(4)}  lr ${p.lr.toPrecision(3)}` +
    `  ${p.imagesPerSec.toFixed(1)} img/s  ETA ${formatDuration(p.etaSeconds)}`
  );
}
