/**
 * spec.seeds in the operator: the parent recipe owns one child recipe per seed, at most
 * `parallelism` active; its status follows the children's and summarizes the seeds that
 * succeeded, a failed one listed but not averaged in.
 */
import assert from 'node:assert/strict';
import { LABEL_SEED, LABEL_SEED_OF, ANNOTATION_BACKEND } from '../../../api/names.js';
import { parseTrainingRecipe } from '../../../api/load.js';
import type { TrainingRecipeStatus } from '../../../api/status.js';
import { Phase, Reason } from '../../../operator/reconcile/conditions.js';
import { planSeeds, seedChildrenOf } from '../../../operator/reconcile/seeds.js';
import { parseRecipeObject } from '../../../operator/reconcile/spec.js';
import type {
  Plan,
  SeedRecipeManifest,
  TrainingRecipeObject,
} from '../../../operator/reconcile/types.js';
import { aRecipe, ctxAt } from './builders.js';

const parent = (extra: Record<string, unknown> = {}) =>
  aRecipe('r')
    .withSpec({ seeds: [0, 1, 2], parallelism: 2, ...extra })
    .withAnnotation(ANNOTATION_BACKEND, 'wasm');

function plan(p: TrainingRecipeObject, children: TrainingRecipeObject[] = [], seconds = 0): Plan {
  const parsed = parseRecipeObject(p);
  assert.ok(parsed.valid, parsed.valid ? '' : parsed.invalid);
  return planSeeds(parsed, seedChildrenOf([p, ...children], p.metadata), ctxAt(seconds));
}

const applied = (pl: Plan) =>
  pl.actions.flatMap((a) => (a.kind === 'apply' ? [a.object as SeedRecipeManifest] : []));

/** A child as the API server would hold it once created from the plan, with a status. */
function child(obj: SeedRecipeManifest, status?: TrainingRecipeStatus): TrainingRecipeObject {
  return {
    ...structuredClone(obj),
    metadata: {
      ...structuredClone(obj.metadata),
      name: obj.metadata.name!,
      namespace: 'ml',
      uid: `uid-${obj.metadata.name}`,
    },
    ...(status ? { status } : {}),
  };
}
const succeeded = (acc1: number, emaAcc1: number): TrainingRecipeStatus => ({
  phase: Phase.Succeeded,
  metrics: { acc1, acc5: 90, emaAcc1, emaAcc5: 91 },
  weights: 's3://runs/w',
});

describe('operator: spec.seeds', () => {
  it('creates the first `parallelism` seed recipes: seed, output and backend set, owned by the parent', () => {
    const p = parent().obj();
    const pl = plan(p);
    const made = applied(pl);
    assert.deepEqual(
      made.map((m) => m.metadata.name),
      ['r-seed-0', 'r-seed-1'],
    );
    const one = made[1]!;
    assert.equal(one.spec.recipe.seed, 1);
    assert.equal(one.spec.output, 's3://runs/r1/seed-1');
    assert.equal(one.spec.seeds, undefined);
    assert.equal(one.metadata.labels?.[LABEL_SEED_OF], 'r');
    assert.equal(one.metadata.labels?.[LABEL_SEED], '1');
    assert.equal(one.metadata.annotations?.[ANNOTATION_BACKEND], 'wasm');
    assert.equal(one.metadata.ownerReferences?.[0]?.uid, p.metadata.uid);
    // What the operator applies is a valid recipe for the API and for the planner.
    parseTrainingRecipe({ apiVersion: one.apiVersion, kind: one.kind, spec: one.spec });
    assert.equal(pl.actions.filter((a) => a.kind === 'createPod').length, 0, 'no pods of its own');
    const st = pl.statusPatch!;
    assert.equal(st.phase, Phase.Pending);
    assert.deepEqual(
      st.seeds!.map((s) => [s.seed, s.phase, s.recipe ?? null]),
      [
        [0, Phase.Pending, 'r-seed-0'],
        [1, Phase.Pending, 'r-seed-1'],
        [2, Phase.Pending, null],
      ],
    );
  });

  it('steady state: no writes when the children are as desired and nothing changed', () => {
    const p0 = parent().obj();
    const first = plan(p0);
    const kids = applied(first).map((m) => child(m, { phase: Phase.Running }));
    const p1 = parent().withStatus(first.statusPatch!).obj();
    const second = plan(p1, kids);
    assert.equal(applied(second).length, 0);
    assert.equal(second.statusPatch!.phase, Phase.Running);
    const third = plan(parent().withStatus(second.statusPatch!).obj(), kids);
    assert.equal(third.statusPatch, null, 'status unchanged: no write');
    assert.equal(third.actions.length, 0);
  });

  it('starts the next seed when one finishes, and summarizes the finished ones', () => {
    const p0 = parent().obj();
    const [c0, c1] = applied(plan(p0)).map((m) => child(m));
    const pl = plan(parent().obj(), [
      child(c0 as unknown as SeedRecipeManifest, succeeded(70, 71)),
      child(c1 as unknown as SeedRecipeManifest, { phase: Phase.Running }),
    ]);
    assert.deepEqual(
      applied(pl).map((m) => m.metadata.name),
      ['r-seed-2'],
    );
    const st = pl.statusPatch!;
    assert.equal(st.phase, Phase.Running);
    assert.equal(st.summary?.n, 1);
    assert.equal(st.summary?.headline, '71.00 (1)');
    assert.deepEqual(st.seeds![0]!.metrics, { acc1: 70, acc5: 90, emaAcc1: 71, emaAcc5: 91 });
  });

  it('ends Failed when a seed failed: listed with its message, not averaged in', () => {
    const made = applied(plan(parent({ parallelism: 3 }).obj()));
    assert.equal(made.length, 3);
    const failed: TrainingRecipeStatus = {
      phase: Phase.Failed,
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          reason: Reason.BackoffLimitExceeded,
          message: 'worker group failed 4 times',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    };
    const pl = plan(parent({ parallelism: 3 }).obj(), [
      child(made[0]!, succeeded(70, 80.0)),
      child(made[1]!, failed),
      child(made[2]!, succeeded(72, 80.2)),
    ]);
    const st = pl.statusPatch!;
    assert.equal(st.phase, Phase.Failed);
    assert.equal(st.summary?.n, 2);
    assert.equal(st.summary?.failed, 1);
    assert.equal(st.summary?.headline, '80.10 ± 0.14 (2)');
    assert.equal(st.summary?.acc1?.mean, 71);
    assert.equal(st.seeds![1]!.message, 'worker group failed 4 times');
    const cond = st.conditions!.find((c) => c.type === 'Failed')!;
    assert.equal(cond.reason, Reason.SeedsFailed);
    assert.match(cond.message, /seed\(s\) 1 failed; the summary holds the other 2/);
  });

  it('ends Succeeded when every seed did; afterwards the status is the record', () => {
    const made = applied(plan(parent({ parallelism: 3 }).obj()));
    const kids = made.map((m, i) => child(m, succeeded(70 + i, 80 + i)));
    const pl = plan(parent({ parallelism: 3 }).obj(), kids);
    const st = pl.statusPatch!;
    assert.equal(st.phase, Phase.Succeeded);
    assert.equal(st.summary?.headline, '81.00 ± 1.00 (3)');
    assert.equal(st.summary?.emaAcc1?.median, 81);
    assert.equal(
      st.conditions!.find((c) => c.type === 'Succeeded')?.reason,
      Reason.AllSeedsSucceeded,
    );
    // Children deleted later do not rewrite the record.
    const after = plan(parent({ parallelism: 3 }).withStatus(st).obj(), [], 60);
    assert.equal(after.statusPatch, null);
    assert.equal(after.actions.length, 0);
  });

  it('suspend reaches the running seeds and starts no new one', () => {
    const made = applied(plan(parent().obj()));
    const kids = made.map((m) => child(m, { phase: Phase.Running }));
    const pl = plan(parent().suspended().obj(), kids);
    const re = applied(pl);
    assert.deepEqual(
      re.map((m) => [m.metadata.name, m.spec.runPolicy.suspend]),
      [
        ['r-seed-0', true],
        ['r-seed-1', true],
      ],
    );
    assert.equal(pl.statusPatch!.phase, Phase.Suspended);
  });

  it('refuses a name whose seed children would make pod names longer than 63', () => {
    const long = 'a'.repeat(45);
    const parsed = parseRecipeObject(
      aRecipe(long)
        .withSpec({ seeds: [0, 1000] })
        .obj(),
    );
    assert.ok(!parsed.valid);
    assert.match(parsed.invalid, /too long: pod hostname "a+-seed-1000-worker-1"/);
    assert.ok(parseRecipeObject(aRecipe(long).obj()).valid, 'fine without seeds');
  });
});
