/**
 * A running group's health, from what rank 0 reported (progress.json): stragglers named by
 * pod and node, the last checkpoint's time on every worker pod (a scheduler picking
 * preemption victims can read it), and whether the run policy fits the measured step and
 * checkpoint times.
 */
import { ANNOTATION_LAST_CHECKPOINT_TIME } from '../../api/names.js';
import { findStragglers } from '../../api/progress.js';
import type { Straggler } from '../../api/status.js';
import { terminationGraceSeconds } from './children.js';
import { ConditionType, Reason } from './conditions.js';
import type { Draft } from './draft.js';
import type { PodView } from './pods.js';
import type { TrainingRecipeSpec } from './types.js';

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
