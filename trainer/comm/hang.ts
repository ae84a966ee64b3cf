/**
 * Hang detection, the pure part: from every rank's last step report and when it last moved,
 * is the group hung, and who is to blame? The coordinator (rank 0) runs it on its liveness
 * tick. In a synchronous ring one stuck rank stalls every rank, so "no progress" alone does
 * not name the culprit: a rank whose heartbeats stopped is the first suspect, then the rank
 * that has not even finished computing its gradients while the others wait for it.
 */
import { HANG_FACTOR, HANG_FLOOR_SECONDS } from '../../api/progress.js';
import type { StepReport } from './step-clock.js';

/** Without runPolicy.hangTimeoutSeconds: HANG_FACTOR × the p99 step, at least this. */
export const HANG_FLOOR_MS = HANG_FLOOR_SECONDS * 1000;
/** Steps every rank must have measured before a derived timeout applies. */
export const HANG_MIN_SAMPLES = 10;

export interface RankWatch {
  report: StepReport;
  /** When this rank's step, computed step or phase last changed (ms). */
  advancedAt: number;
}

/**
 * The timeout in force: the explicit one, or HANG_FACTOR × the slowest rank's p99 step
 * (at least HANG_FLOOR_MS) once every rank has measured HANG_MIN_SAMPLES steps; undefined =
 * not yet known (the heartbeat deadline still catches dead ranks).
 */
export function hangTimeoutMs(
  explicitMs: number | undefined,
  watches: ReadonlyMap<number, RankWatch>,
  worldSize: number,
): number | undefined {
  if (explicitMs !== undefined) return explicitMs;
  if (watches.size < worldSize) return undefined;
  let p99 = 0;
  for (const w of watches.values()) {
    if (w.report.samples < HANG_MIN_SAMPLES) return undefined;
    p99 = Math.max(p99, w.report.p99StepMs);
  }
  return Math.max(HANG_FLOOR_MS, HANG_FACTOR * p99);
}

export interface HangVerdict {
  rank: number;
  /** How long the group has made no progress. */
  stalledMs: number;
  step: number;
}

/**
 * A hang: some training rank (past its first step in this group) has not moved for
 * `timeoutMs`. Names the silent rank if there is one, else the rank furthest behind
 * (lowest computed step; ties: the one that moved least recently, then the lowest rank).
 */
export function findHang(
  watches: ReadonlyMap<number, RankWatch>,
  now: number,
  timeoutMs: number,
  silentRank: number | undefined,
): HangVerdict | undefined {
  let stalledMs = 0;
  for (const w of watches.values()) {
    if (!w.report.training || w.report.samples < 1) continue;
    stalledMs = Math.max(stalledMs, now - w.advancedAt);
  }
  if (stalledMs <= timeoutMs) return undefined;
  let suspect: number | undefined = silentRank;
  if (suspect === undefined) {
    let best: [number, number, number] | undefined;
    for (const [rank, w] of watches) {
      const key: [number, number, number] = [w.report.computed, w.advancedAt, rank];
      if (!best || lexLess(key, best)) best = key;
    }
    suspect = best?.[2];
  }
  if (suspect === undefined) return undefined;
  return { rank: suspect, stalledMs, step: watches.get(suspect)?.report.step ?? 0 };
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/** Records a report: `advancedAt` moves when the rank's position or phase changed. */
export function observe(
  watches: Map<number, RankWatch>,
  rank: number,
  report: StepReport,
  now: number,
): void {
  const prev = watches.get(rank);
  const moved =
    !prev ||
    prev.report.step !== report.step ||
    prev.report.computed !== report.computed ||
    prev.report.training !== report.training;
  watches.set(rank, { report, advancedAt: moved ? now : prev.advancedAt });
}
