/**
 * The plan: a pure function from (recipe, what the caches show, now) to the desired
 * children, the new status and the writes that get there. Everything that decides lives
 * here and is unit-tested without an API server; reconciler.ts only carries the plan out.
 *
 * Decisions are written ahead: a plan that tears a group down also bumps `restarts` and
 * `groupGeneration` in the status, and the reconciler patches the status (with the
 * resourceVersion it read as a precondition) before it touches pods. A reconcile that
 * works from a stale cache therefore fails its status patch and retries instead of
 * counting the same failure twice.
 *
 * This file is the state machine; each phase has its own file: admit.ts (validity,
 * suspension, deadlines and waits), create.ts (children and the group's pods), running.ts
 * (a live group), restart.ts (a failed group), finish.ts (success, failure, cleanup).
 * draft.ts holds the plan being built and the moves the phases share.
 */
import {
  deadlinePassed,
  readmit,
  rejectSpec,
  resume,
  start,
  suspend,
  suspendedByUser,
} from './admit.js';
import { Phase } from './conditions.js';
import { ensureChildren } from './create.js';
import { Draft } from './draft.js';
import { dropProbes } from './elastic.js';
import { explain } from './explain.js';
import { finished } from './finish.js';
import { restartDue } from './restart.js';
import { watchGroup } from './running.js';
import type { ParsedRecipe } from './spec.js';
import type { Observed, Plan, PlanContext, TrainingRecipeSpec } from './types.js';

export { restartDelaySeconds } from './restart.js';

const FINISHED: ReadonlySet<string> = new Set([Phase.Succeeded, Phase.Failed]);
// Suspended here: held by Kueue (a user's suspension returned above); Requeued: evicted by Kueue.
const ACTIVE: ReadonlySet<string> = new Set([
  Phase.Pending,
  Phase.Starting,
  Phase.Running,
  Phase.Suspended,
  Phase.Requeued,
]);

export function planRecipe(recipe: ParsedRecipe, observed: Observed, ctx: PlanContext): Plan {
  const d = new Draft(recipe, observed, ctx);
  const { deletionTimestamp, generation } = recipe.metadata;
  // Being deleted: the garbage collector removes the children; nothing to add.
  if (deletionTimestamp) return d.result(false);
  if (generation !== undefined) d.status.observedGeneration = generation;
  if (!recipe.valid) {
    rejectSpec(d, recipe.invalid);
  } else {
    readmit(d);
    step(d, recipe.spec);
  }
  const group = d.views.filter((v) => v.generation === d.generation);
  const message = explain(d.status, recipe.valid ? recipe.spec : undefined, group);
  if (message !== undefined) d.status.message = message.slice(0, 1024);
  else delete d.status.message;
  return d.result(true);
}

function step(d: Draft, spec: TrainingRecipeSpec): void {
  stepPhase(d, spec);
  // Capacity probes live only beside a running elastic group (elastic.ts).
  if (d.status.phase !== Phase.Running) dropProbes(d);
}

function stepPhase(d: Draft, spec: TrainingRecipeSpec): void {
  const phase = d.status.phase;
  if (phase !== undefined && FINISHED.has(phase)) {
    d.applyProgress();
    finished(d, spec);
    return;
  }
  ensureChildren(d, spec);
  if (spec.runPolicy.suspend) {
    suspend(d);
    return;
  }
  if (phase === Phase.Suspended && suspendedByUser(d)) resume(d);
  if (d.status.phase === undefined) start(d);
  if (deadlinePassed(d, spec)) return;
  if (d.status.phase === Phase.Restarting && !restartDue(d)) return;
  if (ACTIVE.has(d.status.phase ?? '')) watchGroup(d, spec);
}
