import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_GPU_IMAGE, DEFAULT_IMAGE, parseOperatorConfig } from '../../../operator/config.js';
import { buildPod } from '../../../operator/reconcile/children.js';
import { parseTrainingRecipe } from '../../../api/load.js';
import { aRecipe, testSettings } from './builders.js';

const root = join(import.meta.dirname, '../../..');

/** The worker pod of rank 0 for a recipe built by `f`, as the planner would create it. */
function podFor(f: (r: ReturnType<typeof aRecipe>) => ReturnType<typeof aRecipe>) {
  const recipe = f(aRecipe('r')).obj();
  const { spec } = parseTrainingRecipe(recipe.spec);
  const pod = buildPod({
    meta: recipe.metadata,
    spec,
    rank: 0,
    generation: 1,
    settings: testSettings,
  });
  const c = pod.spec!.containers[0]!;
  const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
  return {
    image: c.image,
    backend: env.RINGMASTER_BACKEND,
    gpus: c.resources?.limits?.['nvidia.com/gpu'],
  };
}

describe('operator: the worker image and backend follow the recipe', () => {
  it('CPU recipe: the CPU image, RINGMASTER_BACKEND=tensorflow, no GPU', () => {
    assert.deepEqual(
      podFor((r) => r.withSpec({ gpusPerWorker: 0 })),
      { image: testSettings.defaultImage, backend: 'tensorflow', gpus: undefined },
    );
  });

  it('GPU recipe: the GPU image, RINGMASTER_BACKEND=tensorflow-gpu, its GPUs', () => {
    assert.deepEqual(
      podFor((r) => r.withSpec({ gpusPerWorker: 1 })),
      { image: testSettings.defaultGpuImage, backend: 'tensorflow-gpu', gpus: '1' },
    );
  });

  it('spec.image overrides both defaults; the backend still follows the GPU count', () => {
    assert.deepEqual(
      podFor((r) => r.withSpec({ gpusPerWorker: 1, image: 'reg.local/trainer:mine' })),
      { image: 'reg.local/trainer:mine', backend: 'tensorflow-gpu', gpus: '1' },
    );
    assert.deepEqual(
      podFor((r) => r.withSpec({ gpusPerWorker: 0, image: 'reg.local/trainer:mine' })),
      { image: 'reg.local/trainer:mine', backend: 'tensorflow', gpus: undefined },
    );
  });

  it('the ringmaster.dev/backend annotation chooses the backend', () => {
    const pod = podFor((r) =>
      r
        .withSpec({ gpusPerWorker: 0, image: 'reg.local/trainer:wasm-only' })
        .withAnnotation('ringmaster.dev/backend', 'wasm'),
    );
    assert.equal(pod.backend, 'wasm');
  });

  it('the built-in defaults are the chart defaults: ringmaster/trainer:<version>[-gpu]', () => {
    const chart = parseYaml(readFileSync(join(root, 'charts/ringmaster/Chart.yaml'), 'utf8'));
    const values = parseYaml(readFileSync(join(root, 'charts/ringmaster/values.yaml'), 'utf8'));
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
    assert.equal(chart.appVersion, version);
    assert.equal(values.workerImage.tag, '', 'the chart tag defaults to appVersion');
    assert.equal(values.workerImage.gpuTag, '', 'the chart GPU tag defaults to <tag>-gpu');
    assert.equal(DEFAULT_IMAGE, `${values.workerImage.repository}:${version}`);
    assert.equal(DEFAULT_GPU_IMAGE, `${values.workerImage.repository}:${version}-gpu`);
    const config = parseOperatorConfig({});
    assert.equal(config.planner.defaultImage, DEFAULT_IMAGE);
    assert.equal(config.planner.defaultGpuImage, DEFAULT_GPU_IMAGE);
    const set = parseOperatorConfig({
      RINGMASTER_DEFAULT_IMAGE: 'reg.local/t:1',
      RINGMASTER_DEFAULT_GPU_IMAGE: 'reg.local/t:1-cuda',
    });
    assert.equal(set.planner.defaultImage, 'reg.local/t:1');
    assert.equal(set.planner.defaultGpuImage, 'reg.local/t:1-cuda');
  });
});
