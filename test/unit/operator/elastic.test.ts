/**
 * The planner's elastic resize (operator/reconcile/elastic.ts): a lost node shrinks the group
 * to the largest feasible size, pods unschedulable for graceSeconds do too, capacity probes
 * bring it back to full size, and a changed spec.workers restarts the group at the new size.
 * Every step is a status a test can read: status.group and the Resizing condition.
 */
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { COMPONENT_CAPACITY_PROBE, LABEL_COMPONENT, WorkerEnv } from '../../../api/names.js';
import { ConditionType, Phase, Reason } from '../../../operator/reconcile/conditions.js';
import type { Plan } from '../../../operator/reconcile/types.js';
import { aPod, aRecipe, applyStatus, at, condition, ctxAt, observe, planFor } from './builders.js';

const created = (plan: Plan) =>
  plan.actions.flatMap((a) => (a.kind === 'createPod' ? [a.pod] : []));
const deletedNames = (plan: Plan) =>
  plan.actions.flatMap((a) => (a.kind === 'deletePod' ? [a.name] : []));
const worldSize = (pod: k8s.V1Pod) =>
  pod.spec!.containers[0]!.env!.find((e) => e.name === WorkerEnv.worldSize)?.value;
const isProbe = (pod: k8s.V1Pod) =>
  pod.metadata?.labels?.[LABEL_COMPONENT] === COMPONENT_CAPACITY_PROBE;

const elastic = (workers = 2, min = 1, max = workers) =>
  aRecipe()
    .withWorkers(workers)
    .withRunPolicy({ elastic: { minWorkers: min, maxWorkers: max, graceSeconds: 30 } });

function probeRunning(p: k8s.V1Pod, startedSeconds: number): k8s.V1Pod {
  return {
    ...p,
    metadata: { ...p.metadata, uid: `uid-${p.metadata!.name}` },
    spec: { ...p.spec!, nodeName: 'node-b' },
    status: { phase: 'Running', startTime: at(startedSeconds) },
  };
}

function unschedulable(p: k8s.V1Pod, sinceSeconds: number): k8s.V1Pod {
  return {
    ...p,
    status: {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.',
          lastTransitionTime: at(sinceSeconds),
        },
      ],
    },
  };
}

describe('operator plan: elastic resize', () => {
  it('node lost → 1 worker with 2 accumulation steps → probe → back to 2', () => {
    // A running 2-worker group; node-b goes NotReady at t=90 and is lost at t=120 (grace 30).
    let recipe = elastic()
      .inPhase(Phase.Running, {
        group: { workers: 2, logicalWorkers: 2, accumulationSteps: 1 },
      })
      .obj();
    const pods = [aPod('r', 0).running('node-a').obj(), aPod('r', 1).running('node-b').obj()];
    const nodes = {
      'node-a': { ready: true },
      'node-b': { ready: false, since: at(90).toISOString() },
    };
    let plan = planFor(recipe, observe(pods, { nodes }), ctxAt(131));
    assert.equal(plan.statusPatch?.phase, Phase.Restarting);
    assert.deepEqual(
      { workers: plan.statusPatch?.group?.workers, k: plan.statusPatch?.group?.accumulationSteps },
      { workers: 1, k: 2 },
    );
    assert.equal(plan.statusPatch?.group?.lastResize?.from, 2);
    const resizing = condition(plan.statusPatch, ConditionType.Resizing);
    assert.equal(resizing?.status, 'True');
    assert.equal(resizing?.reason, Reason.CapacityLost);
    assert.match(resizing!.message, /from 2 to 1 worker\(s\).*2 accumulation micro-step/);

    // The old group gone and the backoff (10 s) over: one pod, told the world is 1.
    recipe = applyStatus(recipe, plan);
    plan = planFor(recipe, observe([], { nodes }), ctxAt(145));
    recipe = applyStatus(recipe, plan);
    const pods2 = created(plan);
    assert.deepEqual(
      pods2.map((p) => [p.metadata!.name, worldSize(p)]),
      [['r-worker-0', '1']],
    );

    // Running at 1: a capacity probe asks for the missing worker's GPU.
    const running1 = [aPod('r', 0, 2).running('node-a').obj()];
    plan = planFor(recipe, observe(running1, { nodes }), ctxAt(150));
    recipe = applyStatus(recipe, plan);
    assert.equal(recipe.status?.phase, Phase.Running);
    assert.equal(condition(recipe.status, ConditionType.Resizing)?.status, 'False');
    const probes = created(plan).filter(isProbe);
    assert.equal(probes.length, 1);
    assert.equal(probes[0]!.spec!.containers[0]!.resources?.limits?.['nvidia.com/gpu'], '1');

    // The probe runs from t=200; not yet at 220, at 230 the group grows.
    const probe = probeRunning(probes[0]!, 200);
    plan = planFor(recipe, observe([...running1, probe], { nodes }), ctxAt(220));
    assert.equal(plan.statusPatch?.phase ?? recipe.status?.phase, Phase.Running);
    plan = planFor(recipe, observe([...running1, probe], { nodes }), ctxAt(230));
    assert.equal(plan.statusPatch?.phase, Phase.Restarting);
    assert.equal(plan.statusPatch?.group?.workers, 2);
    assert.equal(
      condition(plan.statusPatch, ConditionType.Resizing)?.reason,
      Reason.CapacityReturned,
    );
    assert.deepEqual(deletedNames(plan).sort(), ['r-probe-0', 'r-worker-0']);
    assert.equal(plan.statusPatch?.restarts, 1, 'the node loss was a restart, the grow is not');

    recipe = applyStatus(recipe, plan);
    plan = planFor(recipe, observe([], { nodes }), ctxAt(240));
    assert.deepEqual(
      created(plan).map((p) => worldSize(p)),
      ['2', '2'],
    );
  });

  it('pods unschedulable for graceSeconds: the group restarts at the largest size that was placed', () => {
    const recipe = elastic(4, 1, 4)
      .inPhase(Phase.Pending, { group: { workers: 4, logicalWorkers: 4, accumulationSteps: 1 } })
      .obj();
    const pods = [
      aPod('r', 0).running('node-a').obj(),
      aPod('r', 1).running('node-a').obj(),
      aPod('r', 2).running('node-b').obj(),
      unschedulable(aPod('r', 3).obj(), 100),
    ];
    let plan = planFor(recipe, observe(pods), ctxAt(120));
    assert.notEqual(plan.statusPatch?.phase, Phase.Restarting);
    assert.ok(plan.requeueAfterMs! <= 10_000, 'looks again when the grace runs out');
    plan = planFor(recipe, observe(pods), ctxAt(131));
    assert.equal(plan.statusPatch?.phase, Phase.Restarting);
    // 3 placed, but 3 does not divide 4: 2 workers with 2 micro-steps each.
    assert.equal(plan.statusPatch?.group?.workers, 2);
    assert.match(
      condition(plan.statusPatch, ConditionType.Resizing)!.message,
      /Insufficient nvidia/,
    );
  });

  it('never below minWorkers: an unschedulable group keeps waiting', () => {
    const recipe = elastic(4, 4, 4)
      .inPhase(Phase.Pending, { group: { workers: 4, logicalWorkers: 4, accumulationSteps: 1 } })
      .obj();
    const pods = [0, 1, 2].map((r) => aPod('r', r).running('node-a').obj());
    pods.push(unschedulable(aPod('r', 3).obj(), 0));
    const plan = planFor(recipe, observe(pods), ctxAt(1000));
    assert.notEqual(plan.statusPatch?.phase, Phase.Restarting);
    assert.equal(condition(plan.statusPatch, ConditionType.Resizing), undefined);
  });

  it('spec.workers changed on a running recipe: the group restarts at the new size', () => {
    const recipe = aRecipe()
      .withWorkers(4)
      .inPhase(Phase.Running, { group: { workers: 2, logicalWorkers: 2, accumulationSteps: 1 } })
      .obj();
    const pods = [aPod('r', 0).running().obj(), aPod('r', 1).running().obj()];
    const plan = planFor(recipe, observe(pods), ctxAt(10));
    assert.equal(plan.statusPatch?.phase, Phase.Restarting);
    const c = condition(plan.statusPatch, ConditionType.Resizing);
    assert.equal(c?.reason, Reason.WorkersChanged);
    assert.match(c!.message, /global batch becomes 4 × /);
    assert.deepEqual(plan.statusPatch?.group?.workers, 4);
    assert.deepEqual(deletedNames(plan).sort(), ['r-worker-0', 'r-worker-1']);
  });
});
