import type { EpochMetrics } from '../report/metrics-log.js';
import type { ProgressLine } from '../report/progress.js';

/** What a worker tells a local launcher over the IPC channel (absent in pods). */
export type WorkerMessage =
  | ({ type: 'progress' } & ProgressLine)
  | { type: 'backend'; line: string }
  | { type: 'epoch'; metrics: EpochMetrics }
  | { type: 'resumed'; checkpoint: string; epoch: number; stepInEpoch: number }
  | { type: 'done'; summary: RunSummary }
  /** The straggler ranks changed (empty: none any more). */
  | {
      type: 'stragglers';
      stragglers: Array<{ rank: number; p50StepSeconds: number; ratio: number }>;
    }
  /** The group failed: why, and the rank to blame (e.g. HangDetected). */
  | { type: 'fault'; reason: string; rank: number; message: string };

export interface RunSummary {
  acc1: number | null;
  acc5: number | null;
  emaAcc1: number | null;
  emaAcc5: number | null;
  weights: string | null;
  report: string | null;
  epochs: number;
  seconds: number;
}

/** Rank 0 speaks for the group; other ranks' messages would only repeat it. */
export function sendToLauncher(msg: WorkerMessage, rank: number): void {
  if (rank === 0 && process.send && process.connected) process.send(msg);
}
