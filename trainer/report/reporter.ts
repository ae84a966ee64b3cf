/**
 * Everything the training loop tells the outside world, in one place: the local launcher's
 * messages (trainer/local/messages.ts), `progress.json` for the operator (rank 0 only), the
 * per-epoch log line, and the live throughput and ETA they show. The loop reports events; this
 * decides who hears of them and how often.
 */
import { sendToLauncher, type RunSummary } from '../local/messages.js';
import type { Logger } from '../../common/log.js';
import { lrAtEpoch } from '../optim/schedule.js';
import type { Recipe } from '../../api/schema.js';
import type { Storage } from '../../common/storage/storage.js';
import type { EpochMetrics } from './metrics-log.js';
import type { Progress } from '../../api/progress.js';
import { ProgressFile } from './progress.js';
import { findStragglers, type RankReport } from '../../api/progress.js';
import type { CheckpointInfo } from '../checkpoint/checkpointer.js';
import type { Group } from '../comm/index.js';
import type { GoodputLedger } from './goodput.js';
import { HANG_MIN_SAMPLES } from '../comm/hang.js';
import type { ThreadPlan } from '../thread-plan.js';

export interface ReporterOptions {
  rank: number;
  worldSize: number;
  recipe: Readonly<Recipe>;
  itersPerEpoch: number;
  /** The run's output: rank 0 writes progress.json there. */
  out: Storage;
  /** The epochs done so far (the last one's figures go into progress.json). */
  metrics: { readonly history: readonly EpochMetrics[] };
  checkpoints: {
    readonly last: string | null;
    readonly lastInfo: CheckpointInfo | null;
    readonly lastSaveSeconds: number | null;
  };
  /** Rank 0's view of every rank's steps (the coordinator's). */
  group: Pick<Group, 'stepReports'>;
  /** Steps computed and kept across restarts (rank 0). */
  goodput: GoodputLedger;
  /** How this worker spends its cores: into progress.json, hence the recipe's status. */
  threads?: ThreadPlan;
  log: Logger;
}

type Accuracies = Pick<RunSummary, 'acc1' | 'acc5' | 'emaAcc1' | 'emaAcc5'>;

/** The last epoch's validation accuracies, null where not measured yet. */
function accuraciesOf(row: EpochMetrics | null | undefined): Accuracies {
  return {
    acc1: row?.acc1 ?? null,
    acc5: row?.acc5 ?? null,
    emaAcc1: row?.emaAcc1 ?? null,
    emaAcc5: row?.emaAcc5 ?? null,
  };
}

/**
 * The compute backend's line (`backend: tensorflow (1 thread)`), for the launcher to print
 * first. Sent before the run's Reporter exists: the backend is chosen before the data opens.
 */
export function announceBackend(line: string, rank: number): void {
  sendToLauncher({ type: 'backend', line }, rank);
}

export class Reporter {
  private readonly progress: ProgressFile | null;
  /** Images per second over the ranks, smoothed over steps (0 until the first step). */
  private rate = 0;
  private lastStepAt = Date.now();
  /** The straggler ranks last announced, as a key ('' = none). */
  private stragglerKey = '';

  constructor(private readonly o: ReporterOptions) {
    this.progress = o.rank === 0 ? new ProgressFile(o.out) : null;
  }

  resumed(checkpoint: string, epoch: number, stepInEpoch: number): void {
    this.send({ type: 'resumed', checkpoint, epoch, stepInEpoch });
  }

  /** Restarts the throughput clock (before an epoch's first batch is asked for). */
  epochStarted(): void {
    this.rate = 0;
    this.lastStepAt = Date.now();
  }

  /** Step `done` (1-based) of `epoch` took a batch of `batch` images per rank. */
  async step(epoch: number, done: number, batch: number, loss: number, lr: number): Promise<void> {
    const { recipe, itersPerEpoch, worldSize } = this.o;
    const now = Date.now();
    const rate = (batch * worldSize * 1000) / Math.max(1, now - this.lastStepAt);
    this.rate = this.rate === 0 ? rate : 0.9 * this.rate + 0.1 * rate;
    this.lastStepAt = now;
    const stepsLeft = itersPerEpoch - done + (recipe.epochs - epoch - 1) * itersPerEpoch;
    const imagesLeft = stepsLeft * recipe.batchSize * worldSize;
    const eta = this.rate > 0 ? imagesLeft / this.rate : null;
    this.send({
      type: 'progress',
      epoch,
      epochs: recipe.epochs,
      step: done,
      steps: itersPerEpoch,
      loss,
      lr,
      imagesPerSec: this.rate,
      etaSeconds: eta,
    });
    await this.training(epoch, done, { loss, rate: this.rate, eta }, false);
  }

  /** An epoch's figures: to the log and the launcher. */
  epoch(row: EpochMetrics): void {
    this.o.log.info(row, 'epoch done');
    this.send({ type: 'epoch', metrics: row });
  }

  /** progress.json at the start of `epoch` (after the previous epoch's checkpoint). */
  async epochBoundary(epoch: number): Promise<void> {
    await this.training(epoch, 0, null, true);
  }

  /**
   * progress.json right after a checkpoint (forced: the goodput ledger counts to here), saying
   * whether training goes on or the group still evaluates/publishes.
   */
  async checkpointed(epoch: number, stepInEpoch: number, training: boolean): Promise<void> {
    await this.training(epoch, stepInEpoch, null, true, training ? 'training' : 'checkpointing');
  }

  /**
   * progress.json when the group stops stepping for a while (forced): the operator times
   * hangs only while the last report says 'training'.
   */
  async pausing(epoch: number, stepInEpoch: number, phase: 'evaluating' | 'checkpointing') {
    await this.training(epoch, stepInEpoch, null, true, phase);
  }

  /** progress.json once the weights are published (rank 0). */
  async published(weights: string | null): Promise<void> {
    const { recipe, itersPerEpoch } = this.o;
    const last = this.o.metrics.history.at(-1);
    await this.progress?.update(
      {
        phase: 'done',
        epoch: recipe.epochs,
        epochs: recipe.epochs,
        step: itersPerEpoch * recipe.epochs,
        totalSteps: itersPerEpoch * recipe.epochs,
        imagesPerSec: last?.imagesPerSec ?? 0,
        etaSeconds: 0,
        loss: last?.trainLoss ?? null,
        lr: last?.lr ?? 0,
        metrics: accuraciesOf(last),
        ...this.groupFields(itersPerEpoch * recipe.epochs),
        weights,
        ...this.threadsField(),
      },
      true,
    );
  }

  /** What progress.json says about checkpoints, goodput and every rank. */
  private groupFields(
    step: number,
  ): Pick<Progress, 'lastCheckpoint' | 'checkpointSeconds' | 'goodput' | 'ranks'> {
    const c = this.o.checkpoints;
    const ranks: RankReport[] = this.o.group.stepReports().map(({ rank, report }) => ({
      rank,
      step: report.step,
      p50StepSeconds: Math.round(report.p50OwnMs) / 1000,
      p99StepSeconds: Math.round(report.p99StepMs) / 1000,
    }));
    const measured = this.o.group
      .stepReports()
      .every(({ report }) => report.samples >= HANG_MIN_SAMPLES);
    const own = this.o.group.stepReports().find((r) => r.rank === 0)?.report;
    if (own?.p50StepMs) this.o.goodput.observeStepSeconds(own.p50StepMs / 1000);
    if (measured) this.announceStragglers(ranks);
    return {
      lastCheckpoint: c.lastInfo ?? c.last,
      checkpointSeconds: c.lastSaveSeconds,
      goodput: this.o.goodput.at(step),
      ...(ranks.length > 0 ? { ranks } : {}),
    };
  }

  private announceStragglers(ranks: readonly RankReport[]): void {
    const found = findStragglers(ranks);
    const key = found.map((f) => f.rank).join(',');
    if (key === this.stragglerKey) return;
    this.stragglerKey = key;
    if (found.length > 0) {
      this.o.log.warn(
        { stragglers: found },
        `straggler rank(s) ${key}: p50 step > 1.5× their peers'`,
      );
    }
    this.send({ type: 'stragglers', stragglers: found });
  }

  /** The run's result, for the launcher; also returned to the caller. */
  done(facts: Omit<RunSummary, keyof Accuracies>): RunSummary {
    const summary: RunSummary = { ...accuraciesOf(this.o.metrics.history.at(-1)), ...facts };
    this.send({ type: 'done', summary });
    return summary;
  }

  private threadsField(): Pick<Progress, 'threads'> {
    return this.o.threads ? { threads: { ...this.o.threads } } : {};
  }

  private send(msg: Parameters<typeof sendToLauncher>[0]): void {
    sendToLauncher(msg, this.o.rank);
  }

  private async training(
    epoch: number,
    step: number,
    live: { loss: number; rate: number; eta: number | null } | null,
    force: boolean,
    phase: Progress['phase'] = 'training',
  ): Promise<void> {
    if (!this.progress) return;
    const { recipe, itersPerEpoch } = this.o;
    const last = this.o.metrics.history.at(-1);
    const row: Omit<Progress, 'updatedAt'> = {
      phase,
      epoch,
      epochs: recipe.epochs,
      step: epoch * itersPerEpoch + step,
      totalSteps: recipe.epochs * itersPerEpoch,
      imagesPerSec: live?.rate ?? last?.imagesPerSec ?? 0,
      etaSeconds: live?.eta ?? null,
      loss: live?.loss ?? last?.trainLoss ?? null,
      lr: lrAtEpoch(recipe, Math.min(epoch, recipe.epochs - 1)),
      metrics: accuraciesOf(last),
      ...this.groupFields(epoch * itersPerEpoch + step),
      weights: null,
      ...this.threadsField(),
    };
    await this.progress.update(row, force);
  }
}
