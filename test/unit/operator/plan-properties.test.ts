import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PHASES } from '../../../api/status.js';
import { Phase } from '../../../operator/reconcile/conditions.js';
import { aPod, aRecipe, at, ctxAt, observe, planFor, type PodBuilder } from './builders.js';

/** Random but well-formed worlds: a recipe in some phase, pods of several generations and states. */
const podState = fc.constantFrom(
  'pending',
  'running',
  'exit0',
  'exit1',
  'exit2',
  'exit75',
  'evicted',
  'terminating',
);
const world = fc.record({
  workers: fc.integer({ min: 1, max: 4 }),
  phase: fc.constantFrom(...(Object.values(Phase) as Phase[]), undefined),
  generation: fc.integer({ min: 1, max: 3 }),
  restarts: fc.integer({ min: 0, max: 3 }),
  backoffLimit: fc.integer({ min: 0, max: 3 }),
  suspend: fc.boolean(),
  nodeBReady: fc.boolean(),
  now: fc.integer({ min: 0, max: 4000 }),
  pods: fc.array(
    fc.record({
      rank: fc.integer({ min: 0, max: 4 }),
      gen: fc.integer({ min: 1, max: 4 }),
      state: podState,
      nodeB: fc.boolean(),
    }),
    { maxLength: 8 },
  ),
});

function apply(b: PodBuilder, state: string, node: string): PodBuilder {
  switch (state) {
    case 'pending':
      return b;
    case 'running':
      return b.running(node);
    case 'evicted':
      return b.on(node).evicted();
    case 'terminating':
      return b.running(node).terminating(10);
    default:
      return b.on(node).exited(Number(state.slice(4)));
  }
}

describe('operator plan: properties over random worlds', () => {
  it('never duplicates pods, never mixes generations, never exceeds backoffLimit, deletes only what it saw', () => {
    fc.assert(
      fc.property(world, (w) => {
        let rb = aRecipe('r')
          .withWorkers(w.workers)
          .withRunPolicy({ backoffLimit: w.backoffLimit, suspend: w.suspend });
        if (w.phase) {
          rb = rb.inPhase(w.phase, {
            groupGeneration: w.generation,
            restarts: Math.min(w.restarts, w.backoffLimit),
            completionTime: at(0).toISOString(),
          });
        }
        const recipe = rb.obj();
        const seen = new Map<string, string>();
        const pods = w.pods
          .filter((p) => {
            const key = `r-worker-${p.rank}`;
            if (seen.has(key)) return false; // pod names are unique in a namespace
            seen.set(key, '');
            return true;
          })
          .map((p) =>
            apply(aPod('r', p.rank, p.gen), p.state, p.nodeB ? 'node-b' : 'node-a').obj(),
          );
        const nodes = {
          'node-a': { ready: true },
          'node-b': { ready: w.nodeBReady, since: at(0).toISOString() },
        };
        const plan = planFor(recipe, observe(pods, { nodes }), ctxAt(w.now));

        const names = new Set(pods.map((p) => p.metadata!.name));
        const uids = new Set(pods.map((p) => p.metadata!.uid));
        const creates = plan.actions.flatMap((a) => (a.kind === 'createPod' ? [a.pod] : []));
        for (const p of creates)
          assert.ok(!names.has(p.metadata!.name), `creates ${p.metadata!.name}, which exists`);
        if (creates.length > 0) {
          const gens = new Set(
            creates.map((p) => p.metadata!.labels!['ringmaster.dev/generation']),
          );
          assert.equal(gens.size, 1, 'one generation per pass');
          const gen = Number([...gens][0]);
          const older = pods.filter(
            (p) => Number(p.metadata!.labels!['ringmaster.dev/generation']) < gen,
          );
          assert.equal(older.length, 0, 'a new group starts only when the old one is gone');
          const next = plan.statusPatch ?? recipe.status!;
          assert.ok(next.phase === Phase.Pending, `creates pods in phase ${next.phase}`);
          assert.ok(!w.suspend, 'no pods while suspended');
          assert.ok(
            creates.every((p) => Number(p.metadata!.labels!['ringmaster.dev/rank']) < w.workers),
          );
        }
        for (const a of plan.actions)
          if (a.kind === 'deletePod') assert.ok(uids.has(a.uid), 'deletes only observed pods');
        const status = plan.statusPatch ?? recipe.status;
        if (status) {
          assert.ok(
            (status.restarts ?? 0) <= w.backoffLimit,
            `restarts ${status.restarts} > backoffLimit ${w.backoffLimit}`,
          );
          if (status.phase) assert.ok((PHASES as readonly string[]).includes(status.phase));
        }
        if (recipe.status?.phase === Phase.Succeeded || recipe.status?.phase === Phase.Failed) {
          assert.equal(
            plan.statusPatch?.phase ?? recipe.status.phase,
            recipe.status.phase,
            'terminal phases stay',
          );
          assert.equal(creates.length, 0);
        }
      }),
      { numRuns: 400, seed: 7 },
    );
  });
});
