/**
 * "Why is it not running?" in one line (status.message, a `kubectl get` column): waiting for
 * Kueue admission (queue and Kueue's reason), unschedulable (the scheduler's message),
 * waiting for capacity under maxWaitSeconds (until when), restarting (why, how many times),
 * with an ETA from the remaining steps at the measured rate. Pure, and stable between
 * reconciles (absolute times, no countdowns) so it never causes a status write by itself.
 */
import type { TrainingRecipeStatus } from '../../api/status.js';
import { ConditionType, Phase, Reason, findCondition } from './conditions.js';
import type { PodView } from './pods.js';
import type { TrainingRecipeSpec } from './types.js';

export function explain(
  status: TrainingRecipeStatus,
  spec: TrainingRecipeSpec | undefined,
  group: readonly PodView[],
): string | undefined {
  const c = (t: ConditionType) => findCondition(status.conditions, t);
  const eta = etaText(status);
  switch (status.phase) {
    case undefined:
      return undefined;
    case Phase.Succeeded:
      return c(ConditionType.Succeeded)?.message ?? 'finished';
    case Phase.Failed:
      return `failed: ${c(ConditionType.Failed)?.message ?? 'see conditions'}`;
    case Phase.Suspended: {
      const s = c(ConditionType.Suspended);
      if (s?.reason === Reason.SuspendedByUser) return `suspended (runPolicy.suspend)${eta}`;
      return `${s?.message ?? 'waiting for Kueue admission'}${eta}`;
    }
    case Phase.Requeued: {
      const r = c(ConditionType.Requeued);
      const s = c(ConditionType.Suspended);
      const waiting = s?.status === 'True' ? `; ${s.message}` : '';
      return `requeued (${r?.reason ?? 'Evicted'}): ${r?.message ?? 'evicted by Kueue'}${waiting}${eta}`;
    }
    case Phase.Restarting: {
      const r = c(ConditionType.Restarting);
      return `restarting (${r?.reason ?? '?'}, ${status.restarts ?? 0} restart(s) so far): ${r?.message ?? ''}${eta}`;
    }
    case Phase.Pending:
    case Phase.Starting: {
      const running = c(ConditionType.Running)?.message ?? 'creating the worker group';
      const unsched = schedulerMessage(group);
      // Under Kueue the wait for capacity starts at the admission (admit.ts waitedTooLong).
      const admitted = c(ConditionType.Suspended);
      const since =
        admitted?.status === 'False' && admitted.reason === Reason.Admitted
          ? Date.parse(admitted.lastTransitionTime)
          : undefined;
      const wait = maxWaitText(spec, group, since);
      return `${running}${unsched ? ` (scheduler: ${unsched})` : ''}${wait}${eta}`;
    }
    case Phase.Running: {
      const p = status.progress;
      const at =
        p?.step !== undefined && p.totalSteps !== undefined
          ? `step ${p.step}/${p.totalSteps}`
          : p?.epoch !== undefined && p.epochs !== undefined
            ? `epoch ${p.epoch}/${p.epochs}`
            : 'training';
      return `running: ${at}${eta}`;
    }
  }
  return undefined;
}

/** The scheduler's own words for the first pod it could not place. */
function schedulerMessage(group: readonly PodView[]): string | undefined {
  for (const v of group) {
    const s = v.pod.status?.conditions?.find(
      (x) => x.type === 'PodScheduled' && x.status === 'False' && x.reason === 'Unschedulable',
    );
    if (s?.message) return s.message;
  }
  return undefined;
}

function maxWaitText(
  spec: TrainingRecipeSpec | undefined,
  group: readonly PodView[],
  admittedAt?: number,
): string {
  const maxWait = spec?.runPolicy.maxWaitSeconds;
  if (maxWait === undefined || group.length === 0) return '';
  const created = group
    .map((v) => v.pod.metadata?.creationTimestamp)
    .map((t) => (t === undefined ? NaN : new Date(t).getTime()))
    .filter((t) => Number.isFinite(t));
  if (created.length === 0) return '';
  const since = Math.max(Math.min(...created), admittedAt ?? -Infinity);
  const deadline = new Date(since + maxWait * 1000);
  return `; fails at ${deadline.toISOString()} unless all workers run (maxWaitSeconds=${maxWait})`;
}

/**
 * The remaining steps at the measured rate. The trainer's etaSeconds is that figure at its
 * last report; while the group does not run, the same rate is applied to the steps left
 * after the last checkpoint (what the next group has to compute).
 */
function etaText(status: TrainingRecipeStatus): string {
  const p = status.progress;
  if (!p || p.totalSteps === undefined || p.step === undefined || p.etaSeconds === undefined)
    return '';
  const left = p.totalSteps - p.step;
  if (left <= 0) return '';
  if (status.phase === Phase.Running) return `, ETA ${duration(p.etaSeconds)}`;
  const secondsPerStep = p.etaSeconds / left;
  const from = status.lastCheckpoint?.step ?? p.step;
  const remaining = Math.max(0, p.totalSteps - from);
  return `; ${remaining} steps left, ETA ${duration(remaining * secondsPerStep)} once running`;
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}
