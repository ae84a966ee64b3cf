import type { Storage } from '../../common/storage/storage.js';

/** One line of metrics.jsonl: what an epoch did. Accuracies are percentages. */
export interface EpochMetrics {
  epoch: number;
  lr: number;
  trainLoss: number;
  /**
   * Top-1 / top-5 on the training batches, in training mode, against the argmax of the
   * (mixup/cutmix) targets — torchvision's train_one_epoch figures, over every rank's samples.
   * After a mid-epoch resume, over the steps run since.
   */
  trainAcc1: number;
  trainAcc5: number;
  imagesPerSec: number;
  seconds: number;
  acc1: number;
  acc5: number;
  emaAcc1: number | null;
  emaAcc5: number | null;
  /** Validation padding made ranks evaluate more samples than the split has. */
  evalBiased: boolean;
}

export const METRICS_FILE = 'metrics.jsonl';

export function parseMetricsJsonl(text: string): EpochMetrics[] {
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as EpochMetrics);
}

export function toMetricsJsonl(rows: readonly EpochMetrics[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}

/**
 * Per-epoch metrics kept in memory and rewritten whole after each epoch: objects in S3
 * cannot be appended to, and a run has at most a few hundred lines.
 */
export class MetricsLog {
  private readonly rows: EpochMetrics[];
  constructor(
    private readonly storage: Storage,
    history: readonly EpochMetrics[] = [],
  ) {
    this.rows = [...history];
  }

  get history(): readonly EpochMetrics[] {
    return this.rows;
  }

  /** Adds an epoch (replacing any later ones); writes metrics.jsonl when `persist`. */
  async append(row: EpochMetrics, persist = true): Promise<void> {
    // A resumed epoch replaces what an interrupted attempt may have logged for it.
    const at = this.rows.findIndex((r) => r.epoch >= row.epoch);
    if (at >= 0) this.rows.splice(at);
    this.rows.push(row);
    if (!persist) return;
    await this.storage.put(METRICS_FILE, Buffer.from(toMetricsJsonl(this.rows)), {
      contentType: 'application/x-ndjson',
    });
  }
}
