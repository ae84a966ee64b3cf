/**
 * The generated CRD on a real kube-apiserver: it is accepted (structural, CEL compiles within
 * the cost budget), the server's defaults equal the trainer's, every cross-field rule is
 * enforced by CEL with the same message as in code, unknown fields are rejected under strict
 * field validation, and `kubectl get tr` shows the printer columns. Skips without the
 * control-plane binaries (.ci/setup.d/30-kube.sh).
 */
import { strict as assert } from 'node:assert';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  findKubeBinaries,
  startControlPlane,
  statusCode,
  type ControlPlane,
} from '../../../harness/control-plane.js';
import { ensureNamespace } from '../../../harness/kube.js';
import { loadTrainingRecipeFile, parseTrainingRecipe } from '../../../api/load.js';
import { CROSS_FIELD_RULES } from '../../../api/rules.js';
import { minimalSpec, RULE_CASES, RULE_EDGES } from '../../unit/api/rule-cases.js';

const root = join(import.meta.dirname, '..', '..', '..');
const NS = 'recipe-crd';
const api = {
  group: 'ringmaster.dev',
  version: 'v1alpha1',
  namespace: NS,
  plural: 'trainingrecipes',
};

describe('TrainingRecipe CRD on a real API server', function () {
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
    await cp.installCrds([join(root, 'crds/ringmaster.dev_trainingrecipes.yaml')]);
    await ensureNamespace(cp.kubeConfig, NS);
    objects = cp.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  });

  after(async () => {
    await cp?.stop();
  });

  /** Create (dry run unless `persist`) with strict field validation; the server's answer. */
  async function create(name: string, spec: unknown, persist = false): Promise<any> {
    return objects.createNamespacedCustomObject({
      ...api,
      body: {
        apiVersion: 'ringmaster.dev/v1alpha1',
        kind: 'TrainingRecipe',
        metadata: { name },
        spec,
      },
      fieldValidation: 'Strict',
      ...(persist ? {} : { dryRun: 'All' }),
    });
  }

  /** The status code and message of a refused create. */
  async function refusal(name: string, spec: unknown): Promise<{ code?: number; text: string }> {
    try {
      await create(name, spec);
    } catch (err) {
      // The body is a metav1.Status; its message has the field paths and CEL messages.
      const body = (err as { body?: unknown }).body;
      let text = String(body ?? err);
      try {
        text = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // not JSON: keep the raw text
      }
      return { code: statusCode(err), text };
    }
    assert.fail(`the API server accepted ${JSON.stringify(spec)}`);
  }

  it('defaults a minimal spec exactly as parseTrainingRecipe does', async () => {
    const created = await create('minimal', minimalSpec());
    assert.deepEqual(
      created.spec,
      JSON.parse(JSON.stringify(parseTrainingRecipe(minimalSpec()).spec)),
    );
  });

  it('accepts every example, with the spec the trainer reads', async () => {
    // Studies (kind TrainingStudy) are checked in study-crd-apiserver.test.ts.
    const files = (await readdir(join(root, 'examples'), { recursive: true })).filter(
      (f) => f.endsWith('.yaml') && !/study/.test(f),
    );
    for (const f of files) {
      const { metadata, spec } = await loadTrainingRecipeFile(join(root, 'examples', f));
      const created = await create(metadata.name!, spec);
      assert.deepEqual(created.spec, JSON.parse(JSON.stringify(spec)), f);
    }
  });

  it('enforces every cross-field rule with CEL, with the same message as the code', async () => {
    assert.equal(RULE_CASES.length, CROSS_FIELD_RULES.length);
    for (const c of RULE_CASES) {
      const rule = CROSS_FIELD_RULES.find((r) => r.id === c.id)!;
      const r = await refusal(`rule-${c.id.toLowerCase()}`, { ...minimalSpec(), ...c.spec });
      assert.equal(r.code, 422, `${c.id}: ${r.text}`);
      assert.ok(r.text.includes(rule.message), `${c.id}: ${r.text}`);
    }
    for (const [i, extra] of RULE_EDGES.entries())
      await create(`edge-${i}`, { ...minimalSpec(), ...extra });
  });

  it('rejects out-of-range values, unknown enum values and unknown fields', async () => {
    const range = await refusal('range', {
      ...minimalSpec(),
      recipe: { lr: 0, momentum: 1.5 },
      workers: 0,
    });
    assert.equal(range.code, 422);
    for (const path of ['spec.recipe.lr', 'spec.recipe.momentum', 'spec.workers']) {
      assert.ok(range.text.includes(path), `${path}: ${range.text}`);
    }
    const model = await refusal('model', { ...minimalSpec(), recipe: { model: 'resnet51' } });
    assert.ok(model.text.includes('spec.recipe.model'), model.text);
    const unknown = await refusal('unknown', { ...minimalSpec(), recipe: { typo: 1 } });
    assert.equal(unknown.code, 400);
    assert.ok(unknown.text.includes('typo'), unknown.text);
  });

  it('has a status subresource and printer columns', async () => {
    await create('cols', minimalSpec(), true);
    await cp!.kubectl([
      'patch',
      'trainingrecipe',
      'cols',
      '-n',
      NS,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          phase: 'Running',
          progress: { epoch: 7, epochs: 600 },
          metrics: { acc1: 55.5, emaAcc1: 56.25 },
          summary: { n: 3, failed: 0, headline: '80.12 ± 0.08 (3)' },
        },
      }),
    ]);
    const table = await cp!.kubectl(['get', 'tr', '-n', NS]);
    const [header, row] = table.trim().split('\n');
    assert.match(
      header!,
      /NAME\s+PHASE\s+EPOCH\s+EPOCHS\s+ACC@1\s+EMA ACC@1\s+SEEDS ACC@1\s+MESSAGE\s+AGE/,
    );
    assert.match(row!, /^cols\s+Running\s+7\s+600\s+55\.5\s+56\.25\s+80\.12 ± 0\.08 \(3\)\s+/);
    const wide = await cp!.kubectl(['get', 'recipe', 'cols', '-n', NS, '-o', 'wide']);
    assert.match(wide, /MODEL\s+WORKERS/);
    assert.match(wide, /resnet50\s+1/);
  });
});
