/**
 * A live group (Pending, Starting or Running): sort the recipe's pods into this group's ranks
 * and leftovers, then let the group's state decide — rank 0 done means success, a failed or
 * vanished member means a restart, missing ranks are created, and otherwise the phase says
 * how far the group has come (scheduled → containers running → all running).
 */
import { waitedTooLong } from './admit.js';
import { ConditionType, Phase, Reason } from './conditions.js';
import { createMissing, groupPods } from './create.js';
import type { Draft } from './draft.js';
import { finished, succeed } from './finish.js';
import { progressStalled, watchHealth } from './health.js';
import {
  admissionOf,
  blockingLeftovers,
  evictionOf,
  holdForQueue,
  markAdmitted,
  requeue,
} from './kueue.js';
import { names } from './names.js';
import { imagePullProblem, waitingSummary, type PodFailure, type PodView } from './pods.js';
import { restartGroup } from './restart.js';
import type { TrainingRecipeSpec } from './types.js';
import {
  groupSize,
  growWhenCapacityReturns,
  resized,
  resizeForSpecChange,
  shrinkIfUnschedulable,
} from './elastic.js';

export function watchGroup(d: Draft, spec: TrainingRecipeSpec): void {
  const current = d.generation;
  // Pods newer than the status we read: our own status write is not in the cache yet.
  if (d.views.some((v) => v.generation !== undefined && v.generation > current)) {
    d.timer(1000);
    return;
  }
  if (resizeForSpecChange(d, spec)) return;
  const stale = d.views.filter((v) => v.generation === undefined || v.generation < current);
  for (const v of stale) d.stop(v, 'left over from an earlier group');

  const size = groupSize(d, spec);
  const byRank = new Map<number, PodView>();
  for (const v of d.views) {
    if (v.generation !== current) continue;
    if (v.rank === undefined || v.rank >= size || byRank.has(v.rank))
      d.stop(v, 'not a rank of this group');
    else byRank.set(v.rank, v);
  }
  const desired = groupPods(d, spec);

  // Rank 0 writes the weights and exits 0 only at the very end: it speaks for the group.
  if (byRank.get(0)?.state === 'succeeded') {
    d.applyProgress();
    succeed(d, spec);
    finished(d, spec);
    return;
  }
  // Kueue took the group away (preemption, a stopped queue): requeue, not a failure.
  const admission = admissionOf(d.meta, d.observed.workload, [...byRank.values()]);
  const eviction = admission && evictionOf(admission, [...byRank.values()]);
  if (admission && eviction) {
    requeue(d, admission, eviction, [...byRank.values()]);
    return;
  }
  const failures = failuresOf(d, size, byRank);
  const stalled = failures.length === 0 ? progressStalled(d, spec) : undefined;
  if (stalled) failures.push(stalled);
  if (failures.length > 0) {
    restartGroup(d, spec, blameFirst(failures, byRank), [...byRank.values()]);
    return;
  }

  const missing = desired.filter((_, rank) => !byRank.has(rank));
  const all = [...byRank.values()];
  const scheduled = all.filter((v) => v.state !== 'pending').length;
  const running = all.filter((v) => v.state === 'running' || v.state === 'succeeded').length;
  const blocking = blockingLeftovers(admission !== undefined, stale);
  if (admission && !admission.admitted) {
    // Kueue admits the group only once all its pods exist (gated): create them, then wait.
    createMissing(d, spec, size, missing, blocking);
    holdForQueue(d, admission);
    return;
  }
  if (admission) markAdmitted(d, admission);
  if (shrinkIfUnschedulable(d, spec, all)) return;
  if (waitedTooLong(d, spec, all, running, size, admission?.admittedAt)) return;
  if (!createMissing(d, spec, size, missing, blocking)) return;
  report(d, spec, all, { size, missing: missing.length, scheduled, running });
  // A node going NotReady becomes a failure only after the grace: look again then.
  for (const v of all) d.nodeTimer(v);
}

/** What the members say, plus ranks that vanished after the whole group had been created. */
function failuresOf(d: Draft, size: number, byRank: ReadonlyMap<number, PodView>): PodFailure[] {
  const failures: PodFailure[] = [];
  for (const v of byRank.values()) if (v.failure) failures.push(v.failure);
  // Once every pod had been created, a pod that vanished was deleted behind our back.
  if (d.prev.phase === Phase.Starting || d.prev.phase === Phase.Running) {
    for (let rank = 0; rank < size; rank++) {
      if (!byRank.has(rank)) {
        failures.push({
          reason: Reason.PodDeleted,
          retryable: true,
          message: `${names.pod(d.meta.name, rank)} was deleted`,
        });
      }
    }
  }
  return failures;
}

/**
 * A hang verdict speaks for the group (the hung rank itself never says anything): it goes
 * first, with the rank it blames named by pod and node.
 */
function blameFirst(
  failures: readonly PodFailure[],
  byRank: ReadonlyMap<number, PodView>,
): PodFailure[] {
  const hang = failures.find((f) => f.reason === Reason.HangDetected);
  if (!hang) return [...failures];
  const culprit = hang.blames !== undefined ? byRank.get(hang.blames) : undefined;
  const where = culprit
    ? `rank ${hang.blames} (pod ${culprit.name} on node ${culprit.pod.spec?.nodeName ?? '?'}) hung: `
    : '';
  // One message for the group: the others' failures follow from the hang.
  return [{ ...hang, message: `${where}${hang.message}` }];
}

/** The phase and Running condition for how far the group has come. */
function report(
  d: Draft,
  spec: TrainingRecipeSpec,
  group: readonly PodView[],
  n: { size: number; missing: number; scheduled: number; running: number },
): void {
  const workers = n.size;
  if (n.missing > 0 || n.scheduled < workers) {
    const why = waitingSummary(group);
    d.status.phase = Phase.Pending;
    d.condition(
      ConditionType.Running,
      'False',
      Reason.PodsPending,
      `${n.scheduled}/${workers} workers scheduled${why ? `: ${why}` : ''}`,
    );
  } else if (n.running < workers && imagePullProblem(group)) {
    const pull = imagePullProblem(group)!;
    const message = `image "${pull.image}" cannot be pulled (${pull.reason} on ${pull.pod}${pull.message ? `: ${pull.message}` : ''})`;
    if (
      d.prev.conditions?.find((c) => c.type === ConditionType.Running)?.reason !==
      Reason.ImagePullFailed
    )
      d.event('Warning', Reason.ImagePullFailed, message);
    d.status.phase = Phase.Starting;
    d.condition(ConditionType.Running, 'False', Reason.ImagePullFailed, message);
  } else if (n.running < workers) {
    const why = waitingSummary(group);
    d.status.phase = Phase.Starting;
    d.condition(
      ConditionType.Running,
      'False',
      Reason.ContainersStarting,
      `${n.running}/${workers} workers running${why ? `: ${why}` : ''}`,
    );
  } else {
    if (d.prev.phase !== Phase.Running) {
      d.event(
        'Normal',
        Reason.AllWorkersRunning,
        `All ${workers} workers of group ${d.generation} are running`,
      );
    }
    d.status.phase = Phase.Running;
    d.condition(
      ConditionType.Running,
      'True',
      Reason.AllWorkersRunning,
      `${workers}/${workers} workers running`,
    );
    resized(d, spec, workers);
    d.applyProgress();
    watchHealth(d, spec, group);
    if (growWhenCapacityReturns(d, spec, group)) return;
    d.timer(d.settings.progressIntervalSeconds * 1000);
  }
}
