/** "Why is it not running?": status.message for each state, from the plan's own status. */
import assert from 'node:assert/strict';
import { Phase } from '../../../operator/reconcile/conditions.js';
import { aPod, aRecipe, applyStatus, ctxAt, group, observe, planFor } from './builders.js';

describe('operator plan: status.message', () => {
  it('quotes the scheduler for an unschedulable worker and says when maxWaitSeconds runs out', () => {
    const recipe = aRecipe().withRunPolicy({ maxWaitSeconds: 120 }).obj();
    const first = planFor(recipe, observe([]), ctxAt(0));
    const pods = group('r', 2, 1, (b) => b);
    pods[1]!.status!.conditions = [
      {
        type: 'PodScheduled',
        status: 'False',
        reason: 'Unschedulable',
        message: '0/3 nodes are available: 3 Insufficient nvidia.com/gpu.',
      },
    ];
    pods[0]!.spec!.nodeName = 'node-a';
    const plan = planFor(
      applyStatus(recipe, first),
      observe(pods, { children: first.children }),
      ctxAt(5),
    );
    const m = plan.statusPatch?.message ?? '';
    assert.match(m, /1\/2 workers scheduled/);
    assert.match(m, /scheduler: 0\/3 nodes are available: 3 Insufficient nvidia\.com\/gpu\./);
    assert.match(
      m,
      /fails at 2026-01-01T00:02:00\.000Z unless all workers run \(maxWaitSeconds=120\)/,
    );
  });

  it('says why and how often a group restarts, with the ETA of the steps left', () => {
    const recipe = aRecipe()
      .inPhase(Phase.Running, {
        progress: { step: 60, totalSteps: 100, etaSeconds: 400 },
        lastCheckpoint: { step: 50 },
      })
      .obj();
    const children = planFor(recipe, observe([]), ctxAt(0)).children;
    const pods = [aPod('r', 0).running().obj(), aPod('r', 1).exited(137, 10).obj()];
    const plan = planFor(recipe, observe(pods, { children }), ctxAt(11));
    const m = plan.statusPatch?.message ?? '';
    assert.equal(plan.statusPatch?.phase, Phase.Restarting);
    assert.match(m, /^restarting \(WorkerFailed, 1 restart\(s\) so far\): restart 1\/3: /);
    assert.match(m, /r-worker-1 exited with code 137/);
    // 400 s for the 40 steps left at step 60 = 10 s/step; 50 steps from the checkpoint.
    assert.match(m, /50 steps left, ETA 8m once running$/);
  });

  it('shows the step and the trainer’s ETA while running', () => {
    const recipe = aRecipe().inPhase(Phase.Running).obj();
    const children = planFor(recipe, observe([]), ctxAt(0)).children;
    const pods = group('r', 2, 1, (b) => b.running());
    const plan = planFor(
      recipe,
      observe(pods, {
        children,
        progress: { epoch: 1, epochs: 4, step: 30, totalSteps: 120, etaSeconds: 95 },
      }),
      ctxAt(1),
    );
    assert.equal(plan.statusPatch?.message, 'running: step 30/120, ETA 2m');
  });
});
