/**
 * Goodput across restarts: steps kept ÷ steps computed, and the wall time restarts cost.
 * The ledger lives in progress.json (rank 0 writes it, the operator copies it into
 * status.goodput). A resumed group reads the previous group's last progress.json: every step
 * it reported beyond the checkpoint the new group resumes from was computed and thrown away,
 * and the time from its last report to the new group's start was time without training.
 *
 * Limit: steps a killed group computed after its last progress write (at most the progress
 * interval, 10 s; a checkpoint or a SIGTERM stop always writes) are not seen, so after a
 * crash `stepsComputed` can be short by that much. A SIGTERM stop loses nothing to this.
 */
import { PROGRESS_FILE } from '../../api/names.js';
import type { Progress } from '../../api/progress.js';
import type { Storage } from '../../common/storage/storage.js';

export type GoodputRecord = NonNullable<Progress['goodput']>;

/** What a new group takes over from the previous group's last progress.json. */
export interface LedgerStart {
  /** Steps computed by earlier groups (including those thrown away). */
  computedBefore: number;
  secondsLost: number;
  /** Steps the previous group reported beyond our resume point (thrown away now). */
  stepsLost: number;
}

/**
 * Pure: the ledger a group starts with, from the previous report (undefined: none, or not
 * readable), the step it resumes at, the recipe hash and the time it starts training.
 */
export function ledgerStart(
  prev: Pick<Progress, 'step' | 'updatedAt' | 'goodput' | 'phase'> | undefined,
  resumedStep: number,
  recipeHash: string,
  nowMs: number,
): LedgerStart {
  const g = prev?.goodput;
  // Another recipe's (or a finished run's) ledger is not ours: start one, counting the
  // steps of the checkpoint we resume as computed once.
  if (!prev || !g || g.recipeHash !== recipeHash || prev.phase === 'done') {
    return { computedBefore: resumedStep, secondsLost: 0, stepsLost: 0 };
  }
  const stepsLost = Math.max(0, prev.step - resumedStep);
  const lastSeen = Date.parse(prev.updatedAt);
  const downtime = Number.isFinite(lastSeen) ? Math.max(0, (nowMs - lastSeen) / 1000) : 0;
  return {
    computedBefore: Math.max(g.stepsComputed, resumedStep),
    secondsLost: g.secondsLost + downtime + stepsLost * (g.stepSeconds ?? 0),
    stepsLost,
  };
}

export class GoodputLedger {
  private stepSeconds = 0;

  constructor(
    private readonly start: LedgerStart,
    private readonly resumedStep: number,
    private readonly recipeHash: string,
  ) {}

  /** Reads the previous group's progress.json, if any (never throws). */
  static async open(out: Storage, resumedStep: number, recipeHash: string): Promise<GoodputLedger> {
    let prev: Progress | undefined;
    try {
      prev = JSON.parse((await out.get(PROGRESS_FILE)).toString('utf8')) as Progress;
      if (typeof prev?.step !== 'number') prev = undefined;
    } catch {
      prev = undefined;
    }
    return new GoodputLedger(
      ledgerStart(prev, resumedStep, recipeHash, Date.now()),
      resumedStep,
      recipeHash,
    );
  }

  get stepsLost(): number {
    return this.start.stepsLost;
  }

  /** The group's typical step (seconds), to price steps a later restart throws away. */
  observeStepSeconds(s: number): void {
    this.stepSeconds = s;
  }

  /** The ledger at global step `step`. */
  at(step: number): GoodputRecord {
    return {
      stepsComputed: this.start.computedBefore + Math.max(0, step - this.resumedStep),
      stepsKept: step,
      secondsLost: Math.round(this.start.secondsLost * 10) / 10,
      recipeHash: this.recipeHash,
      stepSeconds: this.stepSeconds,
    };
  }
}
