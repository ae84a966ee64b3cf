import assert from 'node:assert/strict';
import { buildPod } from '../../../operator/reconcile/children.js';
import { parseTrainingRecipe } from '../../../api/load.js';
import { WorkerEnv } from '../../../api/names.js';
import type { InputError } from '../../../common/errors.js';
import { aRecipe, testSettings } from './builders.js';

function envOf(spec: Record<string, unknown>) {
  const recipe = aRecipe('r').withSpec(spec).obj();
  const parsed = parseTrainingRecipe(recipe.spec).spec;
  const pod = buildPod({
    meta: recipe.metadata,
    spec: parsed,
    rank: 0,
    generation: 1,
    settings: testSettings,
  });
  return new Map(pod.spec!.containers[0]!.env!.map((e) => [e.name, e]));
}

describe('operator: the worker learns its loader threads', () => {
  it('passes spec.dataLoader; nothing when absent (the worker derives it)', () => {
    const env = envOf({ dataLoader: { workers: 6, prefetchBatches: 3 } });
    assert.equal(env.get(WorkerEnv.loaderWorkers)?.value, '6');
    assert.equal(env.get(WorkerEnv.prefetchBatches)?.value, '3');
    const none = envOf({});
    assert.equal(none.has(WorkerEnv.loaderWorkers), false);
    assert.equal(none.has(WorkerEnv.cpuRequestMillicores), false);
  });

  it('passes the CPU request through the downward API when resources name a CPU', () => {
    const env = envOf({ resources: { requests: { cpu: '8' } } });
    assert.deepEqual(env.get(WorkerEnv.cpuRequestMillicores)?.valueFrom?.resourceFieldRef, {
      containerName: 'worker',
      resource: 'requests.cpu',
      divisor: '1m',
    });
  });

  it('refuses a bad dataLoader with the field named', () => {
    const issuesOf = (dataLoader: unknown) => {
      try {
        parseTrainingRecipe(aRecipe('r').withSpec({ dataLoader }).obj().spec);
      } catch (e) {
        return (e as InputError).issues.map((i) => `${i.path}: ${i.message}`).join('\n');
      }
      return '';
    };
    assert.match(issuesOf({ workers: -1 }), /spec\.dataLoader\.workers/);
    assert.match(issuesOf({ prefetchBatches: 0 }), /spec\.dataLoader\.prefetchBatches/);
    assert.match(issuesOf({ threads: 4 }), /spec\.dataLoader/);
    assert.equal(issuesOf({ workers: 4 }), '');
  });
});
