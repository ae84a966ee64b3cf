/**
 * A running group's health, from what rank 0 reported (progress.json): stragglers named by
 * pod and node, the last checkpoint's time on every worker pod (a scheduler picking
 * preemption victims can read it), and whether the run policy fits the measured step and
 * checkpoint times.
 */
import { ANNOTATION_LAST_CHECKPOINT_TIME } from '../../api/names.js';
import { findStragglers, hangTimeoutSeconds } from '../../api/progress.js';
import type { Straggler } from '../../api/status.js';
import { terminationGraceSeconds } from './children.js';
import { ConditionType, Phase, Reason, findCondition } from './conditions.js';
import type { Draft } from './draft.js';
import type { PodFailure, PodView } from './pods.js';
import type { TrainingRecipeSpec } from './types.js';

/** Time the group's own verdict gets before the operator judges from progress.json. */
const VERDICT_GRACE_SECONDS = 30;
/** How often rank 0 writes progress.json at most (trainer/report/progress.ts). */
const PROGRESS_WRITE_SECONDS = 10;

/**
 * The backstop for a hang the group cannot judge itself (its coordinator, rank 0, is the one
 * stuck, or the whole group is frozen): rank 0's last report says 'training' and is older
 * than the hang timeout plus the time the in-group verdict, the progress writes and our
 * reads may take. Only reports written since this group ran count.
 */
export function progressStalled(
  d: Draft,
  spec: TrainingRecipeSpec,
): (PodFailure & { reason: typeof Reason.HangDetected }) | undefined {
  const p = d.observed.progress;
  if (d.prev.phase !== Phase.Running || !p?.updatedAt || p.reportedPhase !== 'training') return;
  const written = Date.parse(p.updatedAt);
  const running = findCondition(d.prev.conditions, ConditionType.Running);
  const since = running?.status === 'True' ? Date.parse(running.lastTransitionTime) : NaN;
  if (!Number.isFinite(written) || !Number.isFinite(since) || written < since) return;
  const timeout = hangTimeoutSeconds(
    spec.runPolicy.hangTimeoutSeconds,
    (p.ranks ?? []).map((r) => r.p99StepSeconds),
  );
  if (timeout === undefined) return;
  const limit =
    timeout + VERDICT_GRACE_SECONDS + PROGRESS_WRITE_SECONDS + d.settings.progressIntervalSeconds;
  const age = (d.now.getTime() - written) / 1000;
  if (age <= limit) return;
  return {
    reason: Reason.HangDetected,
    retryable: true,
    blames: 0,
    message:
      `rank 0 reported no training progress for ${Math.round(age)} s (hang timeout ${timeout} s; ` +
      `last report at step ${p.step ?? '?'}): the coordinator or the whole group is stuck`,
  };
}

export function watchHealth(d: Draft, spec: TrainingRecipeSpec, group: readonly PodView[]): void {
  stragglers(d, group);
  annotateCheckpointTime(d, group);
  policyFits(d, spec);
}

function stragglers(d: Draft, group: readonly PodView[]): void {
  const ranks = d.observed.progress?.ranks;
  if (!ranks) return;
  const byRank = new Map(group.map((v) => [v.rank, v]));
  const found: Straggler[] = findStragglers(ranks).map((s) => {
    const v = byRank.get(s.rank);
    const node = v?.pod.spec?.nodeName;
    return { ...s, ...(v ? { pod: v.name } : {}), ...(node ? { node } : {}) };
  });
  const before = (d.prev.stragglers ?? []).map((s) => s.rank).join(',');
  const now = found.map((s) => s.rank).join(',');
  if (found.length > 0) d.status.stragglers = found;
  else delete d.status.stragglers;
  if (now && now !== before) {
    d.event(
      'Warning',
      Reason.StragglerDetected,
      found
        .map(
          (s) =>
            `rank ${s.rank} (pod ${s.pod ?? '?'} on node ${s.node ?? '?'}): p50 step ${s.p50StepSeconds} s, ${s.ratio}× its peers' median`,
        )
        .join('; '),
    );
  }
}

function annotateCheckpointTime(d: Draft, group: readonly PodView[]): void {
  const time = d.status.lastCheckpoint?.time;
  if (!time) return;
  for (const v of group) {
    if (v.state !== 'running' || v.terminating) continue;
    if (v.pod.metadata?.annotations?.[ANNOTATION_LAST_CHECKPOINT_TIME] === time) continue;
    d.actions.push({
      kind: 'annotatePod',
      name: v.name,
      uid: v.uid,
      annotations: { [ANNOTATION_LAST_CHECKPOINT_TIME]: time },
    });
  }
}

/**
 * RunPolicyFits: the hang timeout must exceed a step (else every step is a "hang"), and the
 * grace period must hold a step plus a checkpoint (else a preemption loses the work since
 * the last one). Only judged once the group measured them.
 */
function policyFits(d: Draft, spec: TrainingRecipeSpec): void {
  const p = d.observed.progress;
  const p99 = Math.max(0, ...(p?.ranks ?? []).map((r) => r.p99StepSeconds));
  const hang = spec.runPolicy.hangTimeoutSeconds;
  const grace = terminationGraceSeconds(spec, d.settings);
  const ckpt = p?.checkpointSeconds;
  if (hang !== undefined && p99 > 0 && hang < 2 * p99) {
    d.condition(
      ConditionType.RunPolicyFits,
      'False',
      Reason.HangTimeoutTooShort,
      `spec.runPolicy.hangTimeoutSeconds (${hang} s) is shorter than 2× the measured p99 step ` +
        `(${p99} s): ordinary steps will be taken for hangs; raise it or leave it unset (derived: 10× p99, at least 60 s)`,
    );
    return;
  }
  if (ckpt !== undefined && p99 > 0 && grace < p99 + ckpt) {
    d.condition(
      ConditionType.RunPolicyFits,
      'False',
      Reason.GracePeriodTooShort,
      `spec.runPolicy.terminationGracePeriodSeconds (${grace} s) is shorter than one step plus one ` +
        `checkpoint (${p99} s + ${ckpt} s): on preemption the group may lose the steps since its last checkpoint`,
    );
    return;
  }
  if (p99 > 0) {
    d.condition(
      ConditionType.RunPolicyFits,
      'True',
      Reason.PolicyFits,
      `p99 step ${p99} s, last checkpoint ${ckpt ?? '?'} s; hang timeout ${hang ?? 'derived'}, grace ${grace} s`,
      { ifPresent: false },
    );
  }
}
