/**
 * A TrainingStudy in the operator: it owns one child recipe per variant (at most
 * `concurrency` unfinished), screening runs first when asked and only the best k get full
 * runs, and the status is the ablation table over the children's seeds.
 */
import assert from 'node:assert/strict';
import { ANNOTATION_STUDY_VARIANT, LABEL_STUDY_OF, LABEL_STUDY_STAGE } from '../../../api/names.js';
import type { SeedRunStatus, TrainingRecipeStatus } from '../../../api/status.js';
import { planStudy, studyChildrenOf, type StudyPlan } from '../../../operator/reconcile/study.js';
import type {
  SeedRecipeManifest,
  TrainingRecipeObject,
  TrainingStudyObject,
} from '../../../operator/reconcile/types.js';

const T0 = new Date('2026-01-01T00:00:00Z');

function aStudy(
  spec: Record<string, unknown>,
  status?: TrainingStudyObject['status'],
): TrainingStudyObject {
  return {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'TrainingStudy',
    metadata: { name: 'st', namespace: 'ml', uid: 'uid-st', generation: 1, resourceVersion: '1' },
    spec: {
      base: {
        recipe: { model: 'resnet_mini', epochs: 4, lrWarmupEpochs: 0 },
        data: { train: 'synthetic:tiny', val: 'synthetic:tiny' },
        output: 's3://runs/st',
      },
      seeds: [0, 1],
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}

const LADDER = {
  steps: [
    { name: 'ls', patch: { labelSmoothing: 0.2 } },
    { name: 'ema', patch: { modelEma: true } },
  ],
};

/** Children as the API server holds them once applied, with a status each. */
function childOf(m: SeedRecipeManifest, status?: TrainingRecipeStatus): TrainingRecipeObject {
  return {
    ...structuredClone(m),
    metadata: {
      ...structuredClone(m.metadata),
      name: m.metadata.name!,
      namespace: 'ml',
      uid: `uid-${m.metadata.name}`,
    },
    ...(status ? { status } : {}),
  };
}

const seeds = (phase: string, acc1s: number[], ema = true): SeedRunStatus[] =>
  acc1s.map((a, seed) => ({
    seed,
    phase: phase as SeedRunStatus['phase'],
    metrics: { acc1: a, acc5: a + 10, ...(ema ? { emaAcc1: a + 1, emaAcc5: a + 11 } : {}) },
  }));

const done = (acc1s: number[]): TrainingRecipeStatus => ({
  phase: 'Succeeded',
  seeds: seeds('Succeeded', acc1s),
});

/** Runs the planner until it creates nothing more, finishing each child with `finish(name)`. */
function plan(study: TrainingStudyObject, children: TrainingRecipeObject[]): StudyPlan {
  return planStudy(study, studyChildrenOf(children, study.metadata), T0);
}

describe('operator: TrainingStudy', () => {
  it('creates the first `concurrency` variant recipes, owned by the study, with seeds and outputs', () => {
    const st = aStudy({ ...LADDER, concurrency: 2 });
    const pl = plan(st, []);
    assert.deepEqual(
      pl.applies.map((a) => a.metadata.name),
      ['st-00', 'st-01'],
    );
    const [b, ls] = pl.applies;
    assert.equal(b!.metadata.ownerReferences![0]!.kind, 'TrainingStudy');
    assert.equal(b!.metadata.ownerReferences![0]!.uid, 'uid-st');
    assert.equal(b!.metadata.labels![LABEL_STUDY_OF], 'st');
    assert.equal(b!.metadata.labels![LABEL_STUDY_STAGE], 'full');
    assert.equal(ls!.metadata.annotations![ANNOTATION_STUDY_VARIANT], 'ls');
    assert.deepEqual(ls!.spec.seeds, [0, 1]);
    assert.equal(ls!.spec.output, 's3://runs/st/01-ls');
    assert.equal(ls!.spec.recipe.labelSmoothing, 0.2);
    assert.equal(pl.statusPatch?.phase, 'Pending');
    assert.equal(pl.statusPatch?.done, '0/3');
    assert.deepEqual(
      pl.statusPatch?.variants?.map((v) => [v.name, v.recipe, v.phase]),
      [
        ['baseline', 'st-00', 'Pending'],
        ['ls', 'st-01', 'Pending'],
        ['ema', undefined, 'Pending'],
      ],
    );
    assert.equal(pl.events.filter((e) => e.reason === 'VariantRunCreated').length, 2);
  });

  it('starts the next variant when one finishes, and fills the table as rows succeed', () => {
    const st = aStudy(LADDER);
    const first = plan(st, []).applies;
    assert.deepEqual(
      first.map((a) => a.metadata.name),
      ['st-00'],
    );
    const c0 = childOf(first[0]!, done([70, 72]));
    const pl = plan(st, [c0]);
    assert.deepEqual(
      pl.applies.map((a) => a.metadata.name),
      ['st-01'],
    );
    assert.equal(pl.statusPatch?.table?.length, 1);
    assert.equal(pl.statusPatch?.table?.[0]?.acc1.mean, 72); // EMA: acc1 + 1
    assert.equal(pl.statusPatch?.done, '1/3');
  });

  it('ends Succeeded with the ablation table, Δ and Welch t against the row above', () => {
    const st = aStudy(LADDER, { phase: 'Running' });
    const all = plan(aStudy({ ...LADDER, concurrency: 3 }), []).applies;
    const children = [
      childOf(all[0]!, done([70, 72])),
      childOf(all[1]!, done([74, 75])),
      childOf(all[2]!, done([74, 76])),
    ];
    const pl = plan(st, children);
    assert.deepEqual(pl.applies, []);
    const s = pl.statusPatch!;
    assert.equal(s.phase, 'Succeeded');
    assert.equal(s.done, '3/3');
    assert.match(s.figure!, /^EMA weights/);
    assert.deepEqual(
      s.table!.map((r) => [r.name, r.n, r.acc1.mean, r.change?.diff]),
      [
        ['baseline', 2, 72, undefined],
        ['ls', 2, 75.5, 3.5],
        ['ema', 2, 76, 0.5],
      ],
    );
    assert.ok(Number.isFinite(s.table![1]!.change!.t!), 'Welch t with two seeds per row');
    assert.ok(s.table![1]!.change!.lo! < 3.5 && s.table![1]!.change!.hi! > 3.5);
    assert.equal(s.best, 'ema 76.00 ± 1.41 (2)');
    assert.ok(s.conditions!.some((c) => c.type === 'Succeeded' && c.status === 'True'));
  });

  it('a variant whose seeds all failed: Failed (VariantsFailed), the table keeps the others', () => {
    const all = plan(aStudy({ ...LADDER, concurrency: 3 }), []).applies;
    const children = [
      childOf(all[0]!, done([70, 72])),
      childOf(all[1]!, { phase: 'Failed', seeds: seeds('Failed', [0, 0]) }),
      childOf(all[2]!, done([74, 76])),
    ];
    const s = plan(aStudy(LADDER), children).statusPatch!;
    assert.equal(s.phase, 'Failed');
    assert.equal(s.conditions!.find((c) => c.type === 'Failed')?.reason, 'VariantsFailed');
    assert.deepEqual(
      s.table!.map((r) => r.name),
      ['baseline', 'ema'],
    );
  });

  it('screening: short runs of every variant first, then full runs of the best k only', () => {
    const spec = {
      grid: { lr: [0.1, 0.2, 0.4] },
      screening: { screenEpochs: 1, keep: 2 },
      concurrency: 3,
    };
    const screen = plan(aStudy(spec), []);
    assert.deepEqual(
      screen.applies.map((a) => a.metadata.name),
      ['st-s00', 'st-s01', 'st-s02'],
    );
    assert.ok(screen.applies.every((a) => a.spec.recipe.epochs === 1));
    assert.ok(screen.applies.every((a) => a.metadata.labels![LABEL_STUDY_STAGE] === 'screen'));
    assert.equal(screen.applies[1]!.spec.output, 's3://runs/st/screen/01');
    assert.equal(screen.statusPatch?.phase, 'Screening');

    // Two screened, one still running: no full run yet.
    const partial = [
      childOf(screen.applies[0]!, done([50, 52])),
      childOf(screen.applies[1]!, done([60, 40])),
      childOf(screen.applies[2]!, { phase: 'Running' }),
    ];
    const waiting = plan(aStudy(spec), partial);
    assert.deepEqual(waiting.applies, []);
    assert.equal(waiting.statusPatch?.phase, 'Screening');

    // All screened: scores 52 (lr 0.1), 51 (lr 0.2), 56 (lr 0.4) → keep lr 0.1 and lr 0.4.
    const screened = [...partial.slice(0, 2), childOf(screen.applies[2]!, done([55, 55]))];
    const full = plan(aStudy(spec), screened);
    assert.deepEqual(
      full.applies.map((a) => [a.metadata.name, a.spec.recipe.lr, a.spec.recipe.epochs]),
      [
        ['st-00', 0.1, 4],
        ['st-02', 0.4, 4],
      ],
    );
    const s = full.statusPatch!;
    assert.deepEqual(
      s.screening!.map((r) => [r.name, r.score, r.kept]),
      [
        ['lr=0.1', 52, true],
        ['lr=0.2', 51, false],
        ['lr=0.4', 56, true],
      ],
    );
    assert.equal(s.done, '0/2');
    assert.ok(s.conditions!.some((c) => c.type === 'Screened' && c.status === 'True'));
    assert.ok(full.events.some((e) => e.reason === 'ScreeningDone'));
  });

  it('an invalid study fails once with InvalidStudy naming the field, and creates nothing', () => {
    const st = aStudy({ steps: [{ name: 'a', patch: { lrr: 1 } }] });
    const pl = plan(st, []);
    assert.deepEqual(pl.applies, []);
    assert.equal(pl.statusPatch?.phase, 'Failed');
    const failed = pl.statusPatch!.conditions!.find((c) => c.type === 'Failed')!;
    assert.equal(failed.reason, 'InvalidStudy');
    assert.match(failed.message, /spec\.steps\[0\]\.patch\.lrr: unknown field/);
    // The same spec again: no new write, no new event.
    const again = plan({ ...st, status: pl.statusPatch! }, []);
    assert.equal(again.statusPatch, null);
    assert.deepEqual(again.events, []);
  });

  it('steady state: nothing to write when the status already says it', () => {
    const st = aStudy(LADDER);
    const first = plan(st, []);
    const children = first.applies.map((a) => childOf(a, { phase: 'Running' }));
    const second = plan({ ...st, status: first.statusPatch! }, children);
    const third = plan({ ...st, status: second.statusPatch ?? first.statusPatch! }, children);
    assert.equal(third.statusPatch, null);
    assert.deepEqual(third.applies, []);
  });
});
