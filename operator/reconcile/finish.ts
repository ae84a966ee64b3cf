/**
 * The end of a run: success (rank 0 exited 0), failure (any terminal reason), and what a
 * finished recipe still needs — stragglers stopped, and after ttlSecondsAfterFinished its
 * pods and children deleted while the recipe stays as the record of the run.
 */
import type * as k8s from '@kubernetes/client-node';
import { ConditionType, Phase, Reason } from './conditions.js';
import { toMs, type Draft } from './draft.js';
import { queueNameOf, releaseGroup } from './kueue.js';
import { isFinished } from './pods.js';
import type { TrainingRecipeSpec } from './types.js';

export function succeed(d: Draft, spec: TrainingRecipeSpec): void {
  if (spec.mode === 'eval') {
    evaluated(d);
    return;
  }
  const weights = d.status.weights;
  d.status.phase = Phase.Succeeded;
  d.status.completionTime = d.now.toISOString();
  d.condition(
    ConditionType.Succeeded,
    'True',
    Reason.TrainingCompleted,
    weights ? `training finished; weights at ${weights}` : 'training finished',
  );
  d.condition(ConditionType.Running, 'False', Reason.TrainingCompleted, 'training finished');
  d.condition(ConditionType.Restarting, 'False', Reason.TrainingCompleted, 'training finished', {
    ifPresent: true,
  });
  d.event(
    'Normal',
    Reason.TrainingCompleted,
    `Training finished${weights ? `: weights at ${weights}` : ''}`,
  );
}

/** An eval-only recipe (spec.mode: eval) succeeded: its figures are in status.eval. */
function evaluated(d: Draft): void {
  const e = d.status.eval;
  const pct = (v: number) => v.toFixed(2);
  const figures = e
    ? [
        e.model ? `model Acc@1 ${pct(e.model.acc1)}` : '',
        e.ema ? `EMA Acc@1 ${pct(e.ema.acc1)}` : '',
        e.tuning ? `resize ${e.tuning.chosen} chosen (was ${e.tuning.current})` : '',
      ]
        .filter(Boolean)
        .join(', ')
    : 'no results in progress.json';
  const message = `evaluation finished: ${figures}`;
  d.status.phase = Phase.Succeeded;
  d.status.completionTime = d.now.toISOString();
  d.condition(ConditionType.Succeeded, 'True', Reason.EvaluationCompleted, message);
  d.condition(ConditionType.Running, 'False', Reason.EvaluationCompleted, 'evaluation finished');
  d.condition(
    ConditionType.Restarting,
    'False',
    Reason.EvaluationCompleted,
    'evaluation finished',
    {
      ifPresent: true,
    },
  );
  d.event('Normal', Reason.EvaluationCompleted, message);
}

export function fail(d: Draft, reason: Reason, message: string): void {
  d.status.phase = Phase.Failed;
  d.status.completionTime = d.now.toISOString();
  d.condition(ConditionType.Failed, 'True', reason, message);
  d.condition(ConditionType.Running, 'False', reason, message);
  d.condition(ConditionType.Restarting, 'False', reason, 'the recipe failed', { ifPresent: true });
  d.event('Warning', reason, message);
  // Release GPUs now; finished pods stay (their logs) until ttlSecondsAfterFinished.
  d.stopUnfinished('the recipe failed');
}

/** Succeeded or Failed: stop stragglers, keep finished pods until the TTL, then clean up. */
export function finished(d: Draft, spec: TrainingRecipeSpec): void {
  if (queueNameOf(d.meta) !== undefined) releaseGroup(d);
  const ttl = spec.runPolicy.ttlSecondsAfterFinished;
  const done = toMs(d.status.completionTime) ?? d.now.getTime();
  if (ttl !== undefined && d.reached(done + ttl * 1000)) {
    cleanup(d, ttl);
    return;
  }
  const rank0Done = d.views.find((v) => v.rank === 0 && v.state === 'succeeded')?.finishedAt;
  for (const v of d.views) {
    if (isFinished(v)) continue;
    if (d.status.phase === Phase.Succeeded && !v.terminating && !v.nodeLost) {
      // Other ranks normally exit 0 right after rank 0; give them the chance to.
      const due = (rank0Done?.getTime() ?? done) + d.settings.successGraceSeconds * 1000;
      if (!d.reached(due)) continue;
    }
    d.stop(v, 'the recipe has finished');
  }
}

/**
 * ttlSecondsAfterFinished passed: the pods (and their logs) and the other children go; the
 * recipe stays as the record of the run (status: metrics, weights URI) until its owner
 * deletes it. Unlike a Job's TTL, which deletes the Job itself — see docs/operator.md.
 */
function cleanup(d: Draft, ttl: number): void {
  let n = 0;
  for (const v of d.views) {
    d.stop(v, 'ttlSecondsAfterFinished passed');
    n++;
  }
  const o = d.observed;
  const children: Array<[k8s.KubernetesObject | undefined, string, string]> = [
    [o.secret, 'v1', 'Secret'],
    [o.configMap, 'v1', 'ConfigMap'],
    [o.service, 'v1', 'Service'],
    [o.networkPolicy, 'networking.k8s.io/v1', 'NetworkPolicy'],
  ];
  for (const [obj, apiVersion, objectKind] of children) {
    if (!obj?.metadata?.name) continue;
    d.actions.push({ kind: 'deleteChild', apiVersion, objectKind, name: obj.metadata.name });
    n++;
  }
  if (n > 0) {
    d.event(
      'Normal',
      Reason.CleanedUp,
      `ttlSecondsAfterFinished=${ttl} passed: deleted ${n} pod(s) and children; the recipe keeps its status`,
    );
  }
}
