/**
 * The planner on shared clusters: the grace period and hang timeout reach the pods, a hang
 * verdict restarts the group naming the hung rank's pod and node, a SIGTERM stop is a
 * restart that kept its work, stragglers and goodput reach the status, the last checkpoint
 * time reaches the pods, and a run policy that does not fit the measured times is reported.
 */
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import {
  ANNOTATION_LAST_CHECKPOINT_TIME,
  ExitCode,
  TERMINATION_LOG_PATH,
  WorkerEnv,
} from '../../../api/names.js';
import type { ProgressReport } from '../../../api/progress.js';
import { ConditionType, Phase, Reason } from '../../../operator/reconcile/conditions.js';
import type { Plan } from '../../../operator/reconcile/types.js';
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
const envOf = (pod: k8s.V1Pod) =>
  Object.fromEntries(pod.spec!.containers[0]!.env!.map((e) => [e.name, e.value ?? e.valueFrom]));
const annotations = (plan: Plan) => plan.actions.filter((a) => a.kind === 'annotatePod');

const children = () => planFor(aRecipe().obj(), observe([]), ctxAt(0)).children;

const running = (progress: ProgressReport) => {
  const recipe = aRecipe().withWorkers(3).inPhase(Phase.Running).obj();
  const pods = [
    aPod('r', 0).running('node-a').obj(),
    aPod('r', 1).running('node-b').obj(),
    aPod('r', 2).running('node-c').obj(),
  ];
  const nodes = { 'node-a': { ready: true }, 'node-b': { ready: true }, 'node-c': { ready: true } };
  const obs = observe(pods, { children: children(), progress, nodes });
  return { recipe, pods, obs };
};

const ranks = (p50: number[], p99 = 0.5) =>
  p50.map((s, rank) => ({ rank, step: 100, p50StepSeconds: s, p99StepSeconds: p99 }));

describe('operator plan: shared clusters', () => {
  it('gives pods the recipe grace period, the hang timeout and the termination log', () => {
    const recipe = aRecipe()
      .withRunPolicy({ terminationGracePeriodSeconds: 45, hangTimeoutSeconds: 300 })
      .obj();
    const pod = created(planFor(recipe, observe([]), ctxAt(0)))[0]!;
    assert.equal(pod.spec!.terminationGracePeriodSeconds, 45);
    const env = envOf(pod);
    assert.equal(env[WorkerEnv.terminationGraceSeconds], '45');
    assert.equal(env[WorkerEnv.hangTimeoutSeconds], '300');
    assert.equal(env[WorkerEnv.terminationLog], TERMINATION_LOG_PATH);
  });

  it("falls back to the operator's grace period and derives the hang timeout in the group", () => {
    const pod = created(planFor(aRecipe().obj(), observe([]), ctxAt(0)))[0]!;
    assert.equal(pod.spec!.terminationGracePeriodSeconds, 120);
    assert.equal(envOf(pod)[WorkerEnv.hangTimeoutSeconds], undefined);
  });

  it('restarts the group on a hang verdict, naming the hung rank, its pod and its node', () => {
    const note = JSON.stringify({
      reason: 'HangDetected',
      exitCode: ExitCode.hang,
      rank: 1,
      message:
        'group failed at rank 1 (10.0.0.2:29500): hang: rank 1 made no progress past step 41',
    });
    const pods = [
      aPod('r', 0).exited(ExitCode.hang, 0, note).obj(),
      aPod('r', 1).running('node-b').obj(),
      aPod('r', 2).exited(ExitCode.hang, 0, note).obj(),
    ];
    const recipe = aRecipe().withWorkers(3).inPhase(Phase.Running).obj();
    const plan = planFor(recipe, observe(pods), ctxAt(100));
    assert.equal(plan.statusPatch?.phase, Phase.Restarting);
    const cond = condition(plan.statusPatch, ConditionType.Restarting)!;
    assert.equal(cond.reason, Reason.HangDetected);
    assert.match(cond.message, /rank 1 \(pod r-worker-1 on node node-b\) hung/);
    assert.match(cond.message, /no progress past step 41/);
    // The hung pod goes too: the whole group restarts.
    assert.ok(plan.actions.some((a) => a.kind === 'deletePod' && a.name === 'r-worker-1'));
  });

  it('a hang exit without a readable note is still HangDetected', () => {
    const pods = [
      aPod('r', 0).exited(ExitCode.hang, 0, 'log tail').obj(),
      aPod('r', 1).running().obj(),
    ];
    const plan = planFor(aRecipe().inPhase(Phase.Running).obj(), observe(pods), ctxAt(100));
    assert.equal(
      condition(plan.statusPatch, ConditionType.Restarting)!.reason,
      Reason.HangDetected,
    );
  });

  it('a worker that stopped on SIGTERM after its checkpoint restarts as WorkerStopped', () => {
    const pods = group('r', 2, 1, (b) => b.exited(ExitCode.interrupted));
    const plan = planFor(aRecipe().inPhase(Phase.Running).obj(), observe(pods), ctxAt(100));
    const cond = condition(plan.statusPatch, ConditionType.Restarting)!;
    assert.equal(cond.reason, Reason.WorkerStopped);
    assert.match(cond.message, /stopped on SIGTERM after writing a checkpoint/);
  });

  it('reports a straggler with pod and node, once, and clears it when it catches up', () => {
    const slow = running({ ranks: ranks([0.2, 0.21, 0.5]) });
    const plan = planFor(slow.recipe, slow.obs, ctxAt(10));
    assert.deepEqual(plan.statusPatch?.stragglers, [
      { rank: 2, p50StepSeconds: 0.5, ratio: 2.44, pod: 'r-worker-2', node: 'node-c' },
    ]);
    const ev = plan.events.filter((e) => e.reason === Reason.StragglerDetected);
    assert.equal(ev.length, 1);
    assert.match(ev[0]!.message, /rank 2 \(pod r-worker-2 on node node-c\)/);
    const again = planFor(applyStatus(slow.recipe, plan), slow.obs, ctxAt(20));
    assert.equal(again.events.filter((e) => e.reason === Reason.StragglerDetected).length, 0);

    const fine = running({ ranks: ranks([0.2, 0.21, 0.22]) });
    const cleared = planFor(applyStatus(slow.recipe, plan), fine.obs, ctxAt(30));
    assert.equal(cleared.statusPatch?.stragglers, undefined);
  });

  it('copies goodput into the status', () => {
    const r = running({
      goodput: { ratio: 0.9, stepsComputed: 100, stepsKept: 90, secondsLost: 12.5 },
    });
    const plan = planFor(r.recipe, r.obs, ctxAt(10));
    assert.deepEqual(plan.statusPatch?.goodput, {
      ratio: 0.9,
      stepsComputed: 100,
      stepsKept: 90,
      secondsLost: 12.5,
    });
  });

  it('annotates running pods with the last checkpoint time, once', () => {
    const time = '2026-01-01T00:00:05.000Z';
    const r = running({ lastCheckpoint: { uri: 's3://runs/r1/x', epoch: 1, step: 10, time } });
    const plan = planFor(r.recipe, r.obs, ctxAt(10));
    const a = annotations(plan);
    assert.deepEqual(
      a.map((x) => x.kind === 'annotatePod' && [x.name, x.annotations]),
      [0, 1, 2].map((i) => [`r-worker-${i}`, { [ANNOTATION_LAST_CHECKPOINT_TIME]: time }]),
    );
    const annotated = r.pods.map((p) => ({
      ...p,
      metadata: { ...p.metadata, annotations: { [ANNOTATION_LAST_CHECKPOINT_TIME]: time } },
    }));
    const obs = observe(annotated, { children: children(), progress: r.obs.progress! });
    obs.nodes = r.obs.nodes;
    assert.deepEqual(annotations(planFor(applyStatus(r.recipe, plan), obs, ctxAt(20))), []);
  });

  it('new pods of a restarted group carry the last checkpoint time from the start', () => {
    const time = '2026-01-01T00:00:05.000Z';
    const recipe = aRecipe()
      .inPhase(Phase.Pending, { lastCheckpoint: { uri: 's3://x', epoch: 1, step: 10, time } })
      .obj();
    const pods = created(planFor(recipe, observe([]), ctxAt(0)));
    assert.equal(pods.length, 2);
    for (const p of pods)
      assert.equal(p.metadata!.annotations![ANNOTATION_LAST_CHECKPOINT_TIME], time);
  });

  it('RunPolicyFits=False names hangTimeoutSeconds when it is shorter than 2× the measured p99 step', () => {
    const recipe = aRecipe()
      .withWorkers(3)
      .withRunPolicy({ hangTimeoutSeconds: 5 })
      .inPhase(Phase.Running)
      .obj();
    const r = running({ ranks: ranks([1, 1, 1], 3) });
    const plan = planFor(recipe, r.obs, ctxAt(10));
    const c = condition(plan.statusPatch, ConditionType.RunPolicyFits)!;
    assert.equal(c.status, 'False');
    assert.equal(c.reason, Reason.HangTimeoutTooShort);
    assert.match(c.message, /spec\.runPolicy\.hangTimeoutSeconds \(5 s\).*p99 step \(3 s\)/);
  });

  it('RunPolicyFits=False names terminationGracePeriodSeconds when a step plus a checkpoint do not fit', () => {
    const recipe = aRecipe()
      .withWorkers(3)
      .withRunPolicy({ terminationGracePeriodSeconds: 10 })
      .inPhase(Phase.Running)
      .obj();
    const r = running({ ranks: ranks([1, 1, 1], 3), checkpointSeconds: 8 });
    const c = condition(
      planFor(recipe, r.obs, ctxAt(10)).statusPatch,
      ConditionType.RunPolicyFits,
    )!;
    assert.equal(c.reason, Reason.GracePeriodTooShort);
    assert.match(c.message, /terminationGracePeriodSeconds \(10 s\).*3 s \+ 8 s/);
  });

  describe('progress.json as the backstop for a stuck coordinator', () => {
    const report = (o: Partial<ProgressReport> = {}): ProgressReport => ({
      step: 41,
      updatedAt: at(10).toISOString(),
      reportedPhase: 'training',
      ranks: ranks([0.2, 0.2, 0.2], 0.5),
      ...o,
    });
    const restartOf = (progress: ProgressReport, seconds: number, hang?: number) => {
      const r = running(progress);
      const recipe = hang
        ? aRecipe()
            .withWorkers(3)
            .withRunPolicy({ hangTimeoutSeconds: hang })
            .inPhase(Phase.Running)
            .obj()
        : r.recipe;
      return condition(
        planFor(recipe, r.obs, ctxAt(seconds)).statusPatch,
        ConditionType.Restarting,
      );
    };

    it('restarts as HangDetected naming rank 0 once its last training report is older than the timeout and the margins', () => {
      // hang 60 + verdict grace 30 + write interval 10 + read interval 10 = 110 s after t=10.
      assert.equal(restartOf(report(), 120, 60), undefined);
      const c = restartOf(report(), 121, 60)!;
      assert.equal(c.reason, Reason.HangDetected);
      assert.match(
        c.message,
        /rank 0 \(pod r-worker-0 on node node-a\) hung: rank 0 reported no training progress for 111 s/,
      );
    });

    it('derives the timeout from the reported p99 steps (10×, at least 60 s)', () => {
      assert.equal(restartOf(report({ ranks: ranks([1, 1, 1], 9) }), 150), undefined);
      assert.equal(
        restartOf(report({ ranks: ranks([1, 1, 1], 9) }), 161)?.reason,
        Reason.HangDetected,
      );
      assert.equal(restartOf(report({ ranks: undefined }), 10_000), undefined, 'nothing measured');
    });

    it('never while rank 0 says it evaluates or checkpoints, nor from a report of an earlier group', () => {
      assert.equal(restartOf(report({ reportedPhase: 'evaluating' }), 10_000, 60), undefined);
      assert.equal(restartOf(report({ reportedPhase: 'checkpointing' }), 10_000, 60), undefined);
      const old = report({ updatedAt: at(-5).toISOString() });
      assert.equal(restartOf(old, 10_000, 60), undefined);
    });
  });

  it('RunPolicyFits=True once measured times fit; absent before anything is measured', () => {
    const r = running({ ranks: ranks([1, 1, 1], 3), checkpointSeconds: 8 });
    const fits = condition(
      planFor(r.recipe, r.obs, ctxAt(10)).statusPatch,
      ConditionType.RunPolicyFits,
    )!;
    assert.equal(fits.status, 'True');
    const unmeasured = running({});
    assert.equal(
      condition(
        planFor(unmeasured.recipe, unmeasured.obs, ctxAt(10)).statusPatch,
        ConditionType.RunPolicyFits,
      ),
      undefined,
    );
  });
});
