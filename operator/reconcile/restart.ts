/**
 * A failed group: the whole group goes (a ring cannot take back one member), `restarts` and
 * `groupGeneration` are bumped in the same status write that decides it, and after a backoff
 * the next group is created — unless the failure is terminal or backoffLimit is reached.
 */
import { ConditionType, Phase, Reason, findCondition } from './conditions.js';
import type { Draft } from './draft.js';
import { fail } from './finish.js';
import { blockingLeftovers, queueNameOf } from './kueue.js';
import type { PodFailure, PodView } from './pods.js';
import type { TrainingRecipeSpec } from './types.js';
import { shrinkAfterFailures } from './elastic.js';

/** Seconds to wait before recreating a group after its `restarts`-th failure. */
export function restartDelaySeconds(restarts: number, base: number, max: number): number {
  if (restarts <= 0 || base <= 0) return 0;
  return Math.min(max, base * 2 ** (restarts - 1));
}

/** Some pods of the current group failed: restart the group, or fail the recipe. */
export function restartGroup(
  d: Draft,
  spec: TrainingRecipeSpec,
  failures: readonly PodFailure[],
  group: readonly PodView[],
): void {
  const message = failures.map((f) => f.message).join('; ');
  const terminal = failures.find((f) => !f.retryable);
  if (terminal) {
    fail(d, Reason.WorkerInvalidInput, `${terminal.message} (invalid input: not retried)`);
    return;
  }
  const limit = spec.runPolicy.backoffLimit;
  const restarts = d.status.restarts ?? 0;
  if (restarts >= limit) {
    fail(
      d,
      Reason.BackoffLimitExceeded,
      `backoffLimit=${limit} reached after ${restarts} restart(s); last failure: ${message}`,
    );
    return;
  }
  d.status.restarts = restarts + 1;
  // Workers on lost nodes: an elastic group comes back smaller (elastic.ts).
  shrinkAfterFailures(d, spec, failures);
  // The next group measures its own ranks.
  delete d.status.stragglers;
  d.status.groupGeneration = d.generation + 1;
  d.status.phase = Phase.Restarting;
  const reason = failures[0]!.reason;
  d.condition(
    ConditionType.Restarting,
    'True',
    reason,
    `restart ${restarts + 1}/${limit}: ${message}`,
  );
  d.condition(
    ConditionType.Running,
    'False',
    Reason.GroupStopped,
    'the worker group is restarting',
  );
  d.event('Warning', reason, `Restarting the worker group (${restarts + 1}/${limit}): ${message}`);
  // The whole group goes at once: a ring cannot take back one member, and GPUs are freed now.
  for (const v of group) d.stop(v, 'the group restarts');
  const s = d.settings;
  const delay = restartDelaySeconds(
    restarts + 1,
    s.restartBackoffBaseSeconds,
    s.restartBackoffMaxSeconds,
  );
  d.timer(Math.max(delay * 1000, 1000));
}

/**
 * Restarting: tear down what is left of the old group, wait for the backoff, then go back to
 * Pending. True when the next group may be created now.
 */
export function restartDue(d: Draft): boolean {
  const current = d.generation;
  const leftovers = d.views.filter((v) => v.generation === undefined || v.generation < current);
  for (const v of leftovers) d.stop(v, 'tearing down the failed group');
  // Under Kueue, finished pods stay until their replacements exist (its finalizer).
  if (blockingLeftovers(queueNameOf(d.meta) !== undefined, leftovers).length > 0) return false;
  const since = findCondition(d.status.conditions, ConditionType.Restarting)?.lastTransitionTime;
  const s = d.settings;
  const delay = restartDelaySeconds(
    d.status.restarts ?? 0,
    s.restartBackoffBaseSeconds,
    s.restartBackoffMaxSeconds,
  );
  if (!d.reached((since ? Date.parse(since) : 0) + delay * 1000)) return false;
  d.status.phase = Phase.Pending;
  d.condition(
    ConditionType.Restarting,
    'False',
    Reason.GroupRecreated,
    `worker group ${current} created after ${d.status.restarts ?? 0} restart(s)`,
  );
  return true;
}
