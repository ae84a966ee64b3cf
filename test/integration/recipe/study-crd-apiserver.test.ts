/**
 * The generated TrainingStudy CRD on a real kube-apiserver: accepted (structural, CEL within
 * the cost budget), the examples' studies created as written, and bad input refused with the
 * field's path — an unknown patch field (strict field validation), steps and grid together
 * and duplicate step names (CEL). Skips without the control-plane binaries.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import {
  findKubeBinaries,
  startControlPlane,
  type ControlPlane,
} from '../../../harness/control-plane.js';
import { ensureNamespace } from '../../../harness/kube.js';
import { parseTrainingStudy } from '../../../api/study-load.js';

const root = join(import.meta.dirname, '..', '..', '..');
const NS = 'study-crd';
const api = {
  group: 'ringmaster.dev',
  version: 'v1alpha1',
  namespace: NS,
  plural: 'trainingstudies',
};

describe('TrainingStudy CRD on a real API server', function () {
  this.timeout(240_000);
  let cp: ControlPlane | undefined;
  let objects: k8s.CustomObjectsApi;

  before(async function () {
    const found = findKubeBinaries();
    if (!found.ok) {
      console.log(`    (skipped: ${found.reason})`);
      this.skip();
    }
    cp = await startControlPlane({ bins: found.bins });
    await cp.installCrds([
      join(root, 'crds/ringmaster.dev_trainingrecipes.yaml'),
      join(root, 'crds/ringmaster.dev_trainingstudies.yaml'),
    ]);
    await ensureNamespace(cp.kubeConfig, NS);
    objects = cp.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  });

  after(async () => {
    await cp?.stop();
  });

  const create = (body: Record<string, any>) =>
    objects.createNamespacedCustomObject({
      ...api,
      body,
      fieldValidation: 'Strict',
      dryRun: 'All',
    });

  async function refusal(body: Record<string, any>): Promise<string> {
    try {
      await create(body);
    } catch (err) {
      const text = String((err as { body?: unknown }).body ?? err);
      try {
        return (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        return text;
      }
    }
    assert.fail(`the API server accepted ${JSON.stringify(body.spec)}`);
  }

  const example = () =>
    parse(readFileSync(join(root, 'examples/fashion-mnist-study.yaml'), 'utf8')) as Record<
      string,
      any
    >;

  it('creates the examples as written, with the rows the loader expands', async () => {
    for (const f of ['examples/ablation/study.yaml', 'examples/fashion-mnist-study.yaml']) {
      const body = parse(readFileSync(join(root, f), 'utf8')) as Record<string, any>;
      const created = (await create(body)) as Record<string, any>;
      // What the server stored (its defaults applied) expands to the same rows.
      assert.deepEqual(parseTrainingStudy(created).variants, parseTrainingStudy(body).variants, f);
    }
  });

  it('refuses a step patching an unknown recipe field, naming it', async () => {
    const body = example();
    body.spec.steps[1].patch = { autoAugmnt: 'ta_wide' };
    assert.match(await refusal(body), /spec\.steps\[1\]\.patch\.autoAugmnt/);
  });

  it('refuses steps and grid together, and duplicate step names (CEL)', async () => {
    const both = example();
    both.spec.grid = { lr: [0.1, 0.2] };
    assert.match(await refusal(both), /give either steps \(a ladder\) or grid/);
    const dup = example();
    dup.spec.steps[1].name = dup.spec.steps[0].name;
    assert.match(await refusal(dup), /step names must be distinct/);
  });
});
