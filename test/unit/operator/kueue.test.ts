/**
 * The planner with Kueue's plain pod groups (docs/adr/0096): what a queued recipe's pods carry,
 * how Kueue's Workload conditions become the recipe's Suspended/Requeued conditions and phase,
 * an eviction that requeues without counting a restart, replacement pods created while Kueue's
 * finalizer keeps the old ones, and the annotation that lets a finished group release quota.
 * The same paths run against a real Kueue in test/e2e/kueue.test.ts.
 */
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import {
  KUEUE_POD_GROUP_LABEL,
  KUEUE_POD_GROUP_TOTAL_COUNT,
  KUEUE_PRIORITY_CLASS_LABEL,
  KUEUE_QUEUE_LABEL,
  KUEUE_RETRIABLE_IN_GROUP,
  KUEUE_TERMINATION_TARGET,
} from '../../../api/names.js';
import { ConditionType, Phase, Reason } from '../../../operator/reconcile/conditions.js';
import { podGroupName, type KueueWorkload } from '../../../operator/reconcile/kueue.js';
import type { Observed, Plan, TrainingRecipeObject } from '../../../operator/reconcile/types.js';
import {
  aPod,
  aRecipe,
  applyStatus,
  at,
  condition,
  ctxAt,
  group,
  observe,
  planFor,
} from './builders.js';

const created = (plan: Plan) =>
  plan.actions.flatMap((a) => (a.kind === 'createPod' ? [a.pod] : []));

function queued(build = aRecipe()): TrainingRecipeObject {
  const r = build.withRunPolicy({ maxWaitSeconds: 60 }).obj();
  r.metadata.labels = { [KUEUE_QUEUE_LABEL]: 'lq', [KUEUE_PRIORITY_CLASS_LABEL]: 'low' };
  return r;
}

function workload(
  recipe: TrainingRecipeObject,
  conditions: Array<{ type: string; status: string; reason: string; message: string }>,
  t = 0,
): KueueWorkload {
  return {
    metadata: { name: podGroupName(recipe.metadata), namespace: 'ml' },
    status: {
      conditions: conditions.map((c) => ({ ...c, lastTransitionTime: at(t).toISOString() })),
      admission: { clusterQueue: 'cq' },
    },
  };
}

const admitted = (r: TrainingRecipeObject, t = 0) =>
  workload(
    r,
    [
      { type: 'QuotaReserved', status: 'True', reason: 'QuotaReserved', message: 'ok' },
      { type: 'Admitted', status: 'True', reason: 'Admitted', message: 'ok' },
    ],
    t,
  );

const pendingOnQuota = (r: TrainingRecipeObject) =>
  workload(r, [
    {
      type: 'QuotaReserved',
      status: 'False',
      reason: 'Pending',
      message:
        "couldn't assign flavors to pod set 1a2b3c4d: insufficient unused quota for cpu in flavor default, 1 more needed",
    },
  ]);

function withWorkload(o: Observed, wl: KueueWorkload): Observed {
  return { ...o, workload: wl };
}

/** Pods as Kueue's webhook leaves them: gated, with its finalizer. */
function gated(pods: k8s.V1Pod[]): k8s.V1Pod[] {
  for (const p of pods) {
    p.spec!.schedulingGates = [{ name: 'kueue.x-k8s.io/admission' }];
    p.metadata!.finalizers = ['kueue.x-k8s.io/managed'];
  }
  return pods;
}

describe('operator plan: Kueue pod groups', () => {
  it('gives each worker pod the queue, the pod group and its size; names carry the generation', () => {
    const recipe = queued(aRecipe().withWorkers(3));
    const pods = created(planFor(recipe, observe([]), ctxAt(0)));
    assert.equal(pods.length, 3);
    for (const [rank, pod] of pods.entries()) {
      assert.equal(pod.metadata!.labels![KUEUE_QUEUE_LABEL], 'lq');
      assert.equal(pod.metadata!.labels![KUEUE_PRIORITY_CLASS_LABEL], 'low');
      assert.equal(pod.metadata!.labels![KUEUE_POD_GROUP_LABEL], podGroupName(recipe.metadata));
      assert.equal(pod.metadata!.annotations![KUEUE_POD_GROUP_TOTAL_COUNT], '3');
      assert.equal(pod.metadata!.name, `r-worker-${rank}-g1`);
      // The rank's DNS name does not depend on the generation.
      assert.equal(pod.spec!.hostname, `r-worker-${rank}`);
    }
    // A recipe without a queue keeps its plain names and no Kueue metadata.
    const plain = created(planFor(aRecipe().obj(), observe([]), ctxAt(0)))[0]!;
    assert.equal(plain.metadata!.name, 'r-worker-0');
    assert.equal(plain.metadata!.labels![KUEUE_QUEUE_LABEL], undefined);
  });

  it('is Suspended with Kueue’s reason while the group waits in the queue; maxWait does not run', () => {
    const recipe = queued();
    const first = planFor(recipe, observe([]), ctxAt(0));
    assert.equal(first.statusPatch?.phase, Phase.Suspended);
    assert.equal(
      condition(first.statusPatch, ConditionType.Suspended)?.reason,
      Reason.WaitingForWorkload,
    );
    assert.equal(created(first).length, 2);

    const pods = gated(group('r', 2, 1, (b) => b));
    const o = withWorkload(observe(pods, { children: first.children }), pendingOnQuota(recipe));
    // Long past maxWaitSeconds=60: waiting for admission is not waiting for capacity.
    const plan = planFor(applyStatus(recipe, first), o, ctxAt(600));
    const s = condition(plan.statusPatch, ConditionType.Suspended)!;
    assert.equal(plan.statusPatch?.phase, Phase.Suspended);
    assert.equal(s.status, 'True');
    assert.equal(s.reason, 'Pending');
    assert.match(s.message, /LocalQueue lq .*insufficient unused quota for cpu/);
    assert.equal(plan.statusPatch?.startTime, undefined);
    assert.match(
      plan.statusPatch?.message ?? '',
      /waiting for admission by Kueue in LocalQueue lq/,
    );
    assert.deepEqual(created(plan), []);
  });

  it('names a queue that does not exist (Kueue’s Inadmissible message)', () => {
    const recipe = queued();
    const first = planFor(recipe, observe([]), ctxAt(0));
    const wl = workload(recipe, [
      {
        type: 'QuotaReserved',
        status: 'False',
        reason: 'Inadmissible',
        message: "LocalQueue lq doesn't exist",
      },
    ]);
    const pods = gated(group('r', 2, 1, (b) => b));
    const plan = planFor(
      applyStatus(recipe, first),
      withWorkload(observe(pods, { children: first.children }), wl),
      ctxAt(5),
    );
    const s = condition(plan.statusPatch, ConditionType.Suspended)!;
    assert.equal(s.reason, 'Inadmissible');
    assert.match(s.message, /LocalQueue lq doesn't exist/);
  });

  it('runs once admitted; the wait for capacity counts from the admission', () => {
    const recipe = queued();
    const first = planFor(recipe, observe([]), ctxAt(0));
    const pods = group('r', 2, 1, (b) => b.on('node-a'));
    const o = withWorkload(observe(pods, { children: first.children }), admitted(recipe, 500));
    // Created at 0, admitted at 500: at 530 the 60 s wait has not run out.
    const plan = planFor(applyStatus(recipe, first), o, ctxAt(530));
    assert.equal(plan.statusPatch?.phase, Phase.Starting);
    const s = condition(plan.statusPatch, ConditionType.Suspended)!;
    assert.equal(s.status, 'False');
    assert.equal(s.reason, Reason.Admitted);
    assert.equal(plan.statusPatch?.startTime, at(500).toISOString());
    // At 570 it has.
    const late = planFor(applyStatus(recipe, first), o, ctxAt(570));
    assert.equal(late.statusPatch?.phase, Phase.Failed);
  });

  it('requeues an evicted group without counting a restart, then replaces it when readmitted', () => {
    const recipe = queued(aRecipe().inPhase(Phase.Running, { lastCheckpoint: { step: 40 } }));
    // As Kueue leaves it while it stops the pods: Evicted, still Admitted.
    const evicted = workload(
      recipe,
      [
        { type: 'QuotaReserved', status: 'True', reason: 'QuotaReserved', message: 'ok' },
        { type: 'Admitted', status: 'True', reason: 'Admitted', message: 'ok' },
        {
          type: 'Evicted',
          status: 'True',
          reason: 'Preempted',
          message: 'Preempted to accommodate a workload (UID: x) due to prioritization',
        },
      ],
      10,
    );
    const children = planFor(recipe, observe([]), ctxAt(0)).children;
    const running = group('r', 2, 1, (b) => b.running().terminating(10));
    for (const p of running) {
      p.status!.conditions = [
        {
          type: KUEUE_TERMINATION_TARGET,
          status: 'True',
          reason: 'WorkloadEvicted',
          message: 'Preempted',
        },
      ];
    }
    const plan = planFor(recipe, withWorkload(observe(running, { children }), evicted), ctxAt(10));
    assert.equal(plan.statusPatch?.phase, Phase.Requeued);
    assert.equal(plan.statusPatch?.restarts, 0);
    assert.equal(plan.statusPatch?.groupGeneration, 2);
    const rq = condition(plan.statusPatch, ConditionType.Requeued)!;
    assert.equal(rq.reason, 'Preempted');
    assert.match(rq.message, /resumes from step 40/);

    // The old pods finished (SIGTERM checkpoint, exit 130) but Kueue's finalizer keeps them:
    // the replacements are created anyway, and the recipe stays Requeued until readmitted.
    const requeued = applyStatus(recipe, plan);
    const old = gated(group('r', 2, 1, (b) => b.exited(130, 12).terminating(10)));
    const next = planFor(requeued, withWorkload(observe(old, { children }), evicted), ctxAt(13));
    assert.equal(next.statusPatch?.phase ?? requeued.status?.phase, Phase.Requeued);
    const replacements = created(next);
    assert.deepEqual(
      replacements.map((p) => p.metadata!.name),
      ['r-worker-0-g2', 'r-worker-1-g2'],
    );

    // Readmitted: Requeued turns False, the group goes on (scheduled, then running).
    const waiting = applyStatus(requeued, next);
    const fresh = group('r', 2, 2, (b) => b.on('node-a').createdAt(14));
    // A Workload read before its readmission (still Evicted at 10) does not requeue a group
    // created after that eviction.
    const stale = planFor(
      waiting,
      withWorkload(observe([...old, ...fresh], { children }), evicted),
      ctxAt(15),
    );
    assert.notEqual(stale.statusPatch?.groupGeneration, 3);
    assert.equal((stale.statusPatch ?? waiting.status)?.groupGeneration, 2);
    const back = planFor(
      waiting,
      withWorkload(observe([...old, ...fresh], { children }), admitted(recipe, 20)),
      ctxAt(21),
    );
    assert.equal(back.statusPatch?.phase, Phase.Starting);
    assert.equal(condition(back.statusPatch, ConditionType.Requeued)?.status, 'False');
    assert.equal(condition(back.statusPatch, ConditionType.Requeued)?.reason, Reason.Readmitted);
    assert.equal(back.statusPatch?.restarts, 0);
  });

  it('marks a finished group not retriable so Kueue releases its quota', () => {
    const recipe = queued(aRecipe().inPhase(Phase.Running));
    const children = planFor(recipe, observe([]), ctxAt(0)).children;
    const pods = [aPod('r', 0).exited(0, 100).obj(), aPod('r', 1).running().obj()];
    for (const p of pods) p.metadata!.labels![KUEUE_POD_GROUP_LABEL] = 'g';
    const plan = planFor(
      recipe,
      withWorkload(observe(pods, { children }), admitted(recipe)),
      ctxAt(101),
    );
    assert.equal(plan.statusPatch?.phase, Phase.Succeeded);
    const marked = plan.actions.flatMap((a) =>
      a.kind === 'annotatePod' && a.annotations[KUEUE_RETRIABLE_IN_GROUP] === 'false'
        ? [a.name]
        : [],
    );
    assert.deepEqual(marked.sort(), ['r-worker-0', 'r-worker-1']);
  });
});
