/**
 * Kueue's plain pod groups (docs/adr/0096): a recipe labelled with a queue name runs its
 * worker group as one Kueue pod group. The pods carry the queue, the group name (= the name
 * of the Workload Kueue creates) and the group's size; Kueue's webhook gates them and removes
 * the gate on admission. What is left to the pods' owner — a new group after an eviction,
 * from the last checkpoint — is what the operator does after any group failure. Pure.
 */
import type * as k8s from '@kubernetes/client-node';
import {
  KUEUE_ADMISSION_GATE,
  KUEUE_POD_GROUP_LABEL,
  KUEUE_POD_GROUP_TOTAL_COUNT,
  KUEUE_PRIORITY_CLASS_LABEL,
  KUEUE_QUEUE_LABEL,
  KUEUE_RETRIABLE_IN_GROUP,
  KUEUE_TERMINATION_TARGET,
} from '../../api/names.js';
import { ConditionType, Phase, Reason, findCondition } from './conditions.js';
import { toMs, type Draft } from './draft.js';
import { isFinished, type PodView } from './pods.js';
import type { TrainingRecipeObject } from './types.js';

type Meta = TrainingRecipeObject['metadata'];

/** The part of a kueue.x-k8s.io Workload the operator reads. */
export interface KueueWorkload {
  metadata?: k8s.V1ObjectMeta;
  spec?: { queueName?: string };
  status?: {
    conditions?: Array<{
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string | Date;
    }>;
    admission?: { clusterQueue?: string };
    requeueState?: { count?: number; requeueAt?: string };
  };
}

/** The LocalQueue a recipe asks for, if any. */
export function queueNameOf(meta: Meta): string | undefined {
  const q = meta.labels?.[KUEUE_QUEUE_LABEL];
  return q ? q : undefined;
}

/**
 * The pod group (and Workload) name: per recipe, not per group generation, so a restarted
 * group replaces the pods of the same admitted Workload. The uid keeps a recreated recipe of
 * the same name off an old Workload. At most 63 characters (a label value).
 */
export function podGroupName(meta: Meta): string {
  return `${meta.name.slice(0, 54)}-${meta.uid.slice(0, 8)}`;
}

/** Labels and annotations a worker pod of a queued recipe carries (none otherwise). */
export function kueuePodMeta(
  meta: Meta,
  workers: number,
): { labels: Record<string, string>; annotations: Record<string, string> } | undefined {
  const queue = queueNameOf(meta);
  if (!queue) return undefined;
  const labels: Record<string, string> = {
    [KUEUE_QUEUE_LABEL]: queue,
    [KUEUE_POD_GROUP_LABEL]: podGroupName(meta),
  };
  const priority = meta.labels?.[KUEUE_PRIORITY_CLASS_LABEL];
  if (priority) labels[KUEUE_PRIORITY_CLASS_LABEL] = priority;
  return { labels, annotations: { [KUEUE_POD_GROUP_TOTAL_COUNT]: String(workers) } };
}

export interface Admission {
  queue: string;
  workload: string;
  admitted: boolean;
  /** Kueue's reason and message for the state (QuotaReserved/Evicted), or ours. */
  reason: string;
  message: string;
  /** When the group was (last) admitted. */
  admittedAt?: string;
  clusterQueue?: string;
  /** Kueue evicted the admitted group (preemption, a stopped queue…), and when. */
  evicted?: { reason: string; message: string; at?: string };
  requeues?: number;
}

type WlCondition = NonNullable<NonNullable<KueueWorkload['status']>['conditions']>[number];

function cond(wl: KueueWorkload | undefined, type: string): WlCondition | undefined {
  return wl?.status?.conditions?.find((c) => c.type === type);
}

function iso(t: string | Date | undefined): string | undefined {
  if (t === undefined) return undefined;
  return t instanceof Date ? t.toISOString() : t;
}

/** What Kueue says about the recipe's group; undefined when the recipe names no queue. */
export function admissionOf(
  meta: Meta,
  workload: KueueWorkload | undefined,
  group: readonly PodView[],
): Admission | undefined {
  const queue = queueNameOf(meta);
  if (!queue) return undefined;
  const name = podGroupName(meta);
  const base = { queue, workload: name };
  if (!workload) {
    // No Workload and pods that were never gated: Kueue does not manage this namespace.
    const ungated = group.length > 0 && group.every((v) => !hasGate(v.pod) && v.pod.spec?.nodeName);
    if (ungated) {
      return {
        ...base,
        admitted: true,
        reason: Reason.NotManagedByKueue,
        message: `the pods were not gated: Kueue's pod integration does not manage this namespace (integrations.frameworks: [pod], managedJobsNamespaceSelector); running without admission`,
      };
    }
    return {
      ...base,
      admitted: false,
      reason: Reason.WaitingForWorkload,
      message: `waiting for Kueue to create Workload ${name} (LocalQueue ${queue})`,
    };
  }
  const admittedCond = cond(workload, 'Admitted');
  const quota = cond(workload, 'QuotaReserved');
  const evictedCond = cond(workload, 'Evicted');
  // Kueue marks a Workload Evicted first and keeps it Admitted until its pods are stopped:
  // being evicted is not being admitted.
  const evicting = evictedCond?.status === 'True';
  const admitted = admittedCond?.status === 'True' && !evicting;
  const out: Admission = {
    ...base,
    admitted,
    reason: admitted
      ? Reason.Admitted
      : evicting
        ? (evictedCond.reason ?? 'Evicted')
        : (quota?.reason ?? 'Pending'),
    message: admitted
      ? `admitted by ClusterQueue ${workload.status?.admission?.clusterQueue ?? '?'}`
      : evicting
        ? (evictedCond.message ?? 'evicted by Kueue')
        : (quota?.message ?? 'waiting for quota'),
  };
  const at = iso(admittedCond?.lastTransitionTime);
  if (admitted && at) out.admittedAt = at;
  const cq = workload.status?.admission?.clusterQueue;
  if (cq) out.clusterQueue = cq;
  if (evicting) {
    out.evicted = {
      reason: evictedCond.reason ?? 'Evicted',
      message: evictedCond.message ?? 'evicted by Kueue',
    };
    const at = iso(evictedCond.lastTransitionTime);
    if (at) out.evicted.at = at;
  }
  const requeues = workload.status?.requeueState?.count;
  if (requeues !== undefined) out.requeues = requeues;
  return out;
}

export function hasGate(pod: k8s.V1Pod): boolean {
  return (pod.spec?.schedulingGates ?? []).some((g) => g.name === KUEUE_ADMISSION_GATE);
}

/** The condition Kueue sets on a pod it stops before deleting it (reason WorkloadEvicted…). */
function kueueStopOf(v: PodView): { reason: string; message: string } | undefined {
  const c = v.pod.status?.conditions?.find(
    (x) => x.type === KUEUE_TERMINATION_TARGET && x.status === 'True',
  );
  return c ? { reason: c.reason ?? 'Evicted', message: c.message ?? '' } : undefined;
}

/**
 * Did Kueue take the running group away? Either Kueue marked a pod before deleting it, or
 * the Workload says Evicted (and no longer admitted) — an eviction later than this group's
 * pods, so that a Workload read before its readmission never requeues the next group.
 */
export function evictionOf(
  a: Admission,
  group: readonly PodView[],
): { reason: string; message: string } | undefined {
  const started = group.some((v) => v.pod.spec?.nodeName);
  if (!started) return undefined;
  const created = group
    .map((v) => toMs(v.pod.metadata?.creationTimestamp))
    .filter((t): t is number => t !== undefined);
  const evictedAt = toMs(a.evicted?.at);
  const stale = evictedAt !== undefined && created.length > 0 && evictedAt <= Math.min(...created);
  // The Workload's reason (Preempted, …) says more than the pods' (WorkloadEvicted).
  if (a.evicted && !stale) return { reason: a.evicted.reason, message: a.evicted.message };
  return group.map(kueueStopOf).find((x) => x !== undefined);
}

/**
 * Kueue evicted the group: it deletes the pods and never recreates them. The next group
 * (a new generation) is created at once — gated — and resumes from the last checkpoint when
 * readmitted. Not a failure: `restarts` and backoffLimit are untouched.
 */
export function requeue(
  d: Draft,
  a: Admission,
  ev: { reason: string; message: string },
  group: readonly PodView[],
): void {
  d.status.groupGeneration = d.generation + 1;
  d.status.phase = Phase.Requeued;
  delete d.status.stragglers;
  setRequeued(d, a, ev);
  d.condition(
    ConditionType.Running,
    'False',
    Reason.GroupStopped,
    'evicted by Kueue; waiting for readmission',
  );
  d.condition(ConditionType.Restarting, 'False', Reason.GroupStopped, 'requeued by Kueue', {
    ifPresent: true,
  });
  d.eventFrom('Warning', ev.reason, `Requeued by Kueue: ${ev.message}`);
  for (const v of group) d.stop(v, 'evicted by Kueue');
  d.timer(1000);
}

function setRequeued(d: Draft, a: Admission, ev: { reason: string; message: string }): void {
  const ckpt = d.status.lastCheckpoint;
  const from = ckpt?.step !== undefined ? `step ${ckpt.step}` : 'the latest checkpoint';
  d.conditionFrom(
    ConditionType.Requeued,
    'True',
    ev.reason,
    `evicted by Kueue (LocalQueue ${a.queue}): ${ev.message}; the next group resumes from ${from} when readmitted`,
  );
}

/**
 * Pods of earlier groups that keep the next group from being created. Under Kueue, finished
 * pods stay (Kueue's finalizer) until replacements exist, and replacements are what Kueue
 * waits for: only pods still running block (Kueue would count them as part of the group).
 */
export function blockingLeftovers(queued: boolean, stale: readonly PodView[]): PodView[] {
  if (!queued) return [...stale];
  return stale.filter((v) => !isFinished(v) && !(v.terminating && !v.pod.spec?.nodeName));
}

/** The group is not admitted: say so (Kueue's reason and message) and wait. */
export function holdForQueue(d: Draft, a: Admission): void {
  const rq = findCondition(d.status.conditions, ConditionType.Requeued);
  const requeued = rq?.status === 'True';
  // The pods' mark may have been seen before the Workload: Kueue's own reason wins.
  if (requeued && a.evicted && rq.reason !== a.evicted.reason) setRequeued(d, a, a.evicted);
  d.status.phase = requeued ? Phase.Requeued : Phase.Suspended;
  // As for a suspended Job: the active deadline counts from admission.
  if (!requeued) d.status.startTime = undefined;
  const where = `LocalQueue ${a.queue}${a.clusterQueue ? ` (ClusterQueue ${a.clusterQueue})` : ''}`;
  d.conditionFrom(
    ConditionType.Suspended,
    'True',
    a.reason,
    `waiting for admission by Kueue in ${where}: ${a.message}`,
  );
  d.condition(
    ConditionType.Running,
    'False',
    Reason.PodsPending,
    `the worker group waits for Kueue admission (Workload ${a.workload})`,
  );
}

/** Admitted (again): the conditions say so; the group goes on as any other. */
export function markAdmitted(d: Draft, a: Admission): void {
  const suspended = findCondition(d.status.conditions, ConditionType.Suspended);
  if (suspended?.status === 'True' && suspended.reason !== Reason.SuspendedByUser) {
    d.conditionFrom(ConditionType.Suspended, 'False', a.reason, a.message);
  }
  const requeued = findCondition(d.status.conditions, ConditionType.Requeued);
  if (requeued?.status === 'True') {
    d.condition(
      ConditionType.Requeued,
      'False',
      Reason.Readmitted,
      `readmitted (${a.message}); resuming from the latest checkpoint`,
    );
  }
  if (d.status.phase === Phase.Suspended || d.status.phase === Phase.Requeued) {
    d.status.phase = Phase.Pending;
  }
  d.status.startTime ??= a.admittedAt ?? d.now.toISOString();
}

/**
 * A finished recipe's pods are annotated so Kueue counts the group finished (and releases
 * its quota) although only rank 0 has to exit 0 and the others may have been stopped.
 */
export function releaseGroup(d: Draft): void {
  for (const v of d.views) {
    if (v.pod.metadata?.annotations?.[KUEUE_RETRIABLE_IN_GROUP] === 'false') continue;
    if (!v.pod.metadata?.labels?.[KUEUE_POD_GROUP_LABEL]) continue;
    d.actions.push({
      kind: 'annotatePod',
      name: v.name,
      uid: v.uid,
      annotations: { [KUEUE_RETRIABLE_IN_GROUP]: 'false' },
    });
  }
}
