/**
 * Admission and waiting: whether a recipe may run at all (an invalid spec fails it, a fixed
 * spec gets another chance), its start, suspension and resumption, and the two clocks that
 * end a wait — activeDeadlineSeconds since the start, maxWaitSeconds for a group to run.
 */
import { ConditionType, Phase, Reason, findCondition } from './conditions.js';
import { toMs, type Draft } from './draft.js';
import { fail } from './finish.js';
import { queueNameOf } from './kueue.js';
import { waitingSummary, type PodView } from './pods.js';
import type { TrainingRecipeSpec } from './types.js';

/** The spec does not parse: fail the recipe (once per distinct message) and stop its pods. */
export function rejectSpec(d: Draft, message: string): void {
  const prevFailed = findCondition(d.prev.conditions, ConditionType.Failed);
  if (
    d.prev.phase !== Phase.Failed ||
    prevFailed?.reason !== Reason.InvalidRecipe ||
    prevFailed.message !== message
  ) {
    d.status.phase = Phase.Failed;
    d.status.completionTime = d.now.toISOString();
    d.condition(ConditionType.Failed, 'True', Reason.InvalidRecipe, message);
    d.condition(ConditionType.Running, 'False', Reason.InvalidRecipe, 'the spec is invalid');
    d.event('Warning', Reason.InvalidRecipe, message);
  }
  d.stopUnfinished('the spec is invalid');
}

/** A recipe that failed validation gets another chance once its spec is fixed. */
export function readmit(d: Draft): void {
  if (
    d.prev.phase !== Phase.Failed ||
    findCondition(d.prev.conditions, ConditionType.Failed)?.reason !== Reason.InvalidRecipe
  )
    return;
  d.status.phase = undefined;
  d.status.completionTime = undefined;
  d.condition(ConditionType.Failed, 'False', Reason.InvalidRecipe, 'the spec is valid now');
}

/** The first group of a new (or re-admitted) recipe. */
export function start(d: Draft): void {
  d.status.phase = Phase.Pending;
  d.status.restarts ??= 0;
  d.status.groupGeneration = d.generation + 1;
  d.status.startTime = d.now.toISOString();
}

/** The user suspended the recipe (not Kueue holding it in a queue). */
export function suspendedByUser(d: Draft): boolean {
  if (d.status.phase !== Phase.Suspended) return false;
  const reason = findCondition(d.status.conditions, ConditionType.Suspended)?.reason;
  return reason === Reason.SuspendedByUser || queueNameOf(d.meta) === undefined;
}

export function suspend(d: Draft): void {
  if (!suspendedByUser(d)) {
    const n = d.views.filter((v) => !v.terminating).length;
    d.status.phase = Phase.Suspended;
    // As for Jobs: the active deadline restarts when the recipe is resumed.
    d.status.startTime = undefined;
    d.condition(ConditionType.Running, 'False', Reason.SuspendedByUser, 'the recipe is suspended');
    d.condition(
      ConditionType.Suspended,
      'True',
      Reason.SuspendedByUser,
      `suspended; ${n} pod(s) stopped, the next group resumes from the latest checkpoint`,
    );
    d.condition(
      ConditionType.Restarting,
      'False',
      Reason.SuspendedByUser,
      'the recipe is suspended',
      { ifPresent: true },
    );
    d.event('Normal', Reason.SuspendedByUser, `Suspended: stopping ${n} pod(s)`);
  }
  for (const v of d.views) d.stop(v, 'the recipe is suspended');
}

export function resume(d: Draft): void {
  d.status.phase = Phase.Pending;
  d.status.groupGeneration = d.generation + 1;
  d.status.startTime = d.now.toISOString();
  d.condition(
    ConditionType.Suspended,
    'False',
    Reason.Resumed,
    'resumed; the group restarts from the latest checkpoint',
  );
  d.event('Normal', Reason.Resumed, `Resumed: creating worker group ${d.status.groupGeneration}`);
}

/** activeDeadlineSeconds since the start: true when it passed and the recipe failed. */
export function deadlinePassed(d: Draft, spec: TrainingRecipeSpec): boolean {
  const limit = spec.runPolicy.activeDeadlineSeconds;
  if (limit === undefined || !d.status.startTime) return false;
  if (!d.reached(Date.parse(d.status.startTime) + limit * 1000)) return false;
  fail(d, Reason.DeadlineExceeded, `active for more than activeDeadlineSeconds=${limit}`);
  return true;
}

/**
 * maxWaitSeconds since the group's first pod was created, with fewer than all workers
 * running: true when it passed and the recipe failed.
 */
export function waitedTooLong(
  d: Draft,
  spec: TrainingRecipeSpec,
  group: readonly PodView[],
  running: number,
  size: number,
  /** Under Kueue: the wait for capacity starts at admission, not in the queue. */
  admittedAt?: string,
): boolean {
  const maxWait = spec.runPolicy.maxWaitSeconds;
  if (running >= size || maxWait === undefined || group.length === 0) return false;
  const created = Math.min(
    ...group.map((v) => toMs(v.pod.metadata?.creationTimestamp) ?? d.now.getTime()),
  );
  const since = Math.max(created, toMs(admittedAt) ?? created);
  if (!d.reached(since + maxWait * 1000)) return false;
  const why = waitingSummary(group);
  fail(
    d,
    Reason.MaxWaitExceeded,
    `${running}/${size} workers running after maxWaitSeconds=${maxWait}${why ? ` (${why})` : ''}`,
  );
  return true;
}
