/**
 * Progress for people and for the operator: rank 0's throttled writer of
 * `<output>/progress.json` (its shape is the API's, api/progress.ts) and the live line of a
 * local run.
 */
import { PROGRESS_FILE } from '../../api/names.js';
import type { Progress } from '../../api/progress.js';
import type { Storage } from '../../common/storage/storage.js';

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

/** Where a run is within an epoch: what the live line shows and a worker tells its launcher. */
export interface ProgressLine {
  /** 0-based epoch in progress. */
  epoch: number;
  epochs: number;
  /** Steps done in this epoch, of `steps`. */
  step: number;
  steps: number;
  loss: number | null;
  lr: number;
  imagesPerSec: number;
  etaSeconds: number | null;
}

/** One line for the live terminal display. */
export function formatProgressLine(p: ProgressLine): string {
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
