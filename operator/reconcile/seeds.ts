/**
 * A recipe with spec.seeds is a parent: it runs no pods itself but owns one child
 * TrainingRecipe per seed (`<name>-seed-<n>`, api/seeds.ts `seedRunSpec`: recipe.seed = n,
 * output `<output>/seed-<n>/`), at most `parallelism` of them active at once, each an
 * ordinary recipe with its own gang, restarts and backoffLimit. The parent's status lists
 * each seed's phase and final metrics and the summary over the seeds that succeeded
 * (n, mean, sd, median, min, max); a seed that failed is listed, never averaged in.
 *
 * Pure, like plan.ts: (parent, the children the cache shows, now) → status and writes.
 */
import {
  ANNOTATION_BACKEND,
  ANNOTATION_SPEC_HASH,
  API_VERSION,
  KIND,
  LABEL_MANAGED_BY,
  LABEL_SEED,
  LABEL_SEED_OF,
  MANAGED_BY,
} from '../../api/names.js';
import { seedRunSpec, summarizeSeeds, type SeedOutcome } from '../../api/seeds.js';
import type { SeedRunStatus } from '../../api/status.js';
import { ownerReference, specHashOf } from './children.js';
import { ConditionType, Phase, Reason, findCondition } from './conditions.js';
import { Draft } from './draft.js';
import { readmit } from './admit.js';
import { hashOf, names } from './names.js';
import type { ParsedRecipe } from './spec.js';
import type {
  Plan,
  PlanContext,
  SeedRecipeManifest,
  TrainingRecipeObject,
  TrainingRecipeSpec,
} from './types.js';

const FINISHED: ReadonlySet<string> = new Set([Phase.Succeeded, Phase.Failed]);
const RUNNING: ReadonlySet<string> = new Set([Phase.Starting, Phase.Running, Phase.Restarting]);

type Meta = TrainingRecipeObject['metadata'];

/** Seed n's child recipe, with the content hash the planner compares. */
export function buildSeedRecipe(
  meta: Meta,
  spec: Readonly<TrainingRecipeSpec>,
  seed: number,
): SeedRecipeManifest {
  const backend = meta.annotations?.[ANNOTATION_BACKEND];
  const obj: SeedRecipeManifest = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: names.seedRecipe(meta.name, seed),
      namespace: meta.namespace,
      labels: {
        [LABEL_SEED_OF]: meta.name,
        [LABEL_SEED]: String(seed),
        [LABEL_MANAGED_BY]: MANAGED_BY,
      },
      ...(backend ? { annotations: { [ANNOTATION_BACKEND]: backend } } : {}),
      ownerReferences: [ownerReference(meta)],
    },
    spec: seedRunSpec(spec, seed),
  };
  obj.metadata.annotations = { ...obj.metadata.annotations, [ANNOTATION_SPEC_HASH]: hashOf(obj) };
  return obj;
}

/** The children of a parent: recipes it owns (by uid), keyed by name. */
export function seedChildrenOf(
  recipes: readonly TrainingRecipeObject[],
  parent: Meta,
): Map<string, TrainingRecipeObject> {
  const out = new Map<string, TrainingRecipeObject>();
  for (const r of recipes) {
    if (r.metadata.namespace !== parent.namespace) continue;
    if (!r.metadata.ownerReferences?.some((o) => o.uid === parent.uid)) continue;
    out.set(r.metadata.name, r);
  }
  return out;
}

function seedStatus(seed: number, child: TrainingRecipeObject): SeedRunStatus {
  const st = child.status ?? {};
  const failed = findCondition(st.conditions, ConditionType.Failed);
  const spec = child.spec as { output?: unknown } | undefined;
  return {
    seed,
    phase: st.phase ?? Phase.Pending,
    recipe: child.metadata.name,
    ...(typeof spec?.output === 'string' ? { output: spec.output } : {}),
    ...(st.metrics && Object.keys(st.metrics).length > 0 ? { metrics: { ...st.metrics } } : {}),
    ...(st.weights ? { weights: st.weights } : {}),
    ...(st.phase === Phase.Failed && failed ? { message: failed.message } : {}),
  };
}

export function planSeeds(
  recipe: ParsedRecipe & { valid: true },
  children: ReadonlyMap<string, TrainingRecipeObject>,
  ctx: PlanContext,
): Plan {
  const d = new Draft(recipe, { pods: [], nodes: new Map() }, ctx);
  const { deletionTimestamp, generation } = recipe.metadata;
  // Being deleted: the garbage collector removes the seed recipes (owner references).
  if (deletionTimestamp) return d.result(false);
  if (generation !== undefined) d.status.observedGeneration = generation;
  readmit(d);
  const spec = recipe.spec;
  const seeds = spec.seeds ?? [spec.recipe.seed];
  const suspended = spec.runPolicy.suspend;
  // Finished: the status is the record of the runs; children deleted later do not change it.
  if (FINISHED.has(d.status.phase ?? '')) return d.result(true);

  const childOf = (seed: number) => children.get(names.seedRecipe(d.meta.name, seed));
  let active = seeds.filter((seed) => {
    const child = childOf(seed);
    return child !== undefined && !FINISHED.has(child.status?.phase ?? '');
  }).length;

  const runs: SeedRunStatus[] = [];
  const outcomes: SeedOutcome[] = [];
  for (const seed of seeds) {
    const want = buildSeedRecipe(d.meta, spec, seed);
    const child = childOf(seed);
    if (child) {
      // Spec changes of the parent (suspend, runPolicy, …) reach the seeds that run.
      if (specHashOf(want) !== specHashOf(child)) {
        d.actions.push({ kind: 'apply', object: want });
      }
      const run = seedStatus(seed, child);
      runs.push(run);
      if (run.phase === Phase.Succeeded) {
        outcomes.push({ seed, ok: true, ...(run.metrics ? { metrics: run.metrics } : {}) });
      } else if (run.phase === Phase.Failed) {
        outcomes.push({ seed, ok: false, ...(run.message ? { message: run.message } : {}) });
      }
      continue;
    }
    if (!suspended && active < spec.parallelism) {
      d.actions.push({ kind: 'apply', object: want });
      d.event('Normal', Reason.SeedRunCreated, `Created ${want.metadata.name} for seed ${seed}`);
      active++;
      runs.push({
        seed,
        phase: Phase.Pending,
        recipe: want.metadata.name!,
        output: want.spec.output,
      });
    } else {
      runs.push({ seed, phase: Phase.Pending, output: want.spec.output });
    }
  }
  d.status.seeds = runs;
  if (outcomes.length > 0) d.status.summary = summarizeSeeds(outcomes);
  else d.status.summary = undefined;
  advance(d, runs, outcomes, suspended);
  return d.result(true);
}

/** The parent's phase and conditions from its seeds'. */
function advance(
  d: Draft,
  runs: readonly SeedRunStatus[],
  outcomes: readonly SeedOutcome[],
  suspended: boolean,
): void {
  d.status.startTime ??= d.now.toISOString();
  const n = runs.length;
  if (outcomes.length === n) {
    const failed = outcomes.filter((o) => !o.ok).map((o) => o.seed);
    const head = d.status.summary?.headline;
    d.status.phase = failed.length === 0 ? Phase.Succeeded : Phase.Failed;
    d.status.completionTime = d.now.toISOString();
    if (failed.length === 0) {
      const msg = `all ${n} seed(s) succeeded${head ? `: ${head}` : ''}`;
      d.condition(ConditionType.Succeeded, 'True', Reason.AllSeedsSucceeded, msg);
      d.condition(ConditionType.Running, 'False', Reason.AllSeedsSucceeded, msg);
      d.event('Normal', Reason.AllSeedsSucceeded, msg);
    } else {
      const msg =
        `seed(s) ${failed.join(', ')} failed; the summary holds the other ${n - failed.length}` +
        (head ? ` (${head})` : '');
      d.condition(ConditionType.Failed, 'True', Reason.SeedsFailed, msg);
      d.condition(ConditionType.Running, 'False', Reason.SeedsFailed, msg);
      d.event('Warning', Reason.SeedsFailed, msg);
    }
    return;
  }
  const running = runs.filter((r) => RUNNING.has(r.phase)).length;
  if (suspended) {
    d.status.phase = Phase.Suspended;
  } else {
    d.status.phase = running > 0 ? Phase.Running : Phase.Pending;
  }
  d.condition(
    ConditionType.Running,
    running > 0 ? 'True' : 'False',
    suspended ? Reason.SuspendedByUser : Reason.SeedsRunning,
    `${running} of ${n} seed run(s) running, ${outcomes.length} finished`,
  );
}
