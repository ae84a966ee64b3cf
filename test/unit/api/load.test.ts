import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, NotFoundError, type InputIssue } from '../../../common/errors.js';
import { canonicalJson } from '../../../common/canonical-json.js';
import {
  defaultRecipe,
  loadTrainingRecipeFile,
  parseRecipe,
  parseTrainingRecipe,
  recipeHash,
} from '../../../api/load.js';
import { CROSS_FIELD_RULES } from '../../../api/rules.js';
import { minimalSpec, RULE_CASES, RULE_EDGES } from './rule-cases.js';

const manifest = (spec: unknown) => ({
  apiVersion: 'ringmaster.dev/v1alpha1',
  kind: 'TrainingRecipe',
  metadata: { name: 'r' },
  spec,
});

/** The issues of a parse that must fail. */
function issuesOf(obj: unknown): InputIssue[] {
  try {
    parseTrainingRecipe(obj, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    return [...err.issues];
  }
  assert.fail('expected the recipe to be rejected');
}
const paths = (issues: InputIssue[]) => issues.map((i) => i.path).sort();
const withRecipe = (recipe: Record<string, unknown>) => manifest({ ...minimalSpec(), recipe });

describe('recipe defaults', () => {
  it('are the final recipe of RECIPE.md, field for field', () => {
    assert.deepEqual(
      { ...defaultRecipe() },
      {
        model: 'resnet50',
        batchSize: 128,
        epochs: 600,
        opt: 'sgd',
        momentum: 0.9,
        lr: 0.5,
        lrScheduler: 'cosineannealinglr',
        lrStepSize: 30,
        lrGamma: 0.1,
        lrMin: 0,
        lrWarmupEpochs: 5,
        lrWarmupMethod: 'linear',
        lrWarmupDecay: 0.01,
        weightDecay: 2e-5,
        normWeightDecay: 0,
        labelSmoothing: 0.1,
        mixupAlpha: 0.2,
        cutmixAlpha: 1,
        autoAugment: 'ta_wide',
        randomErase: 0.1,
        raSampler: true,
        raReps: 4,
        modelEma: true,
        modelEmaSteps: 32,
        modelEmaDecay: 0.99998,
        interpolation: 'bilinear',
        trainCropSize: 176,
        valResizeSize: 232,
        valCropSize: 224,
        seed: 0,
        checkpointEverySteps: 0,
        keepCheckpoints: 3,
        bestMetric: 'emaAcc1',
      },
    );
  });

  it('fill a minimal manifest and its deployment fields', () => {
    const { metadata, spec } = parseTrainingRecipe(manifest(minimalSpec()));
    assert.equal(metadata.name, 'r');
    assert.deepEqual(spec.recipe, defaultRecipe());
    assert.equal(spec.workers, 1);
    assert.equal(spec.gpusPerWorker, 1);
    assert.deepEqual(spec.runPolicy, { backoffLimit: 3, suspend: false });
    assert.equal(spec.image, undefined);
  });

  it('keep given values and default the rest', () => {
    const { spec } = parseTrainingRecipe(withRecipe({ lr: 0.1, epochs: 90 }));
    assert.equal(spec.recipe.lr, 0.1);
    assert.equal(spec.recipe.epochs, 90);
    assert.equal(spec.recipe.momentum, 0.9);
  });

  it('accept a bare spec as well as a manifest, with the same result', () => {
    const a = parseTrainingRecipe(minimalSpec());
    const b = parseTrainingRecipe(manifest(minimalSpec()));
    assert.deepEqual(a.spec, b.spec);
    assert.deepEqual(a.metadata, {});
  });

  it('returns a deeply frozen value and does not touch the input', () => {
    const input = manifest(minimalSpec());
    const before = JSON.stringify(input);
    const { spec } = parseTrainingRecipe(input);
    assert.equal(JSON.stringify(input), before);
    assert.ok(Object.isFrozen(spec) && Object.isFrozen(spec.recipe) && Object.isFrozen(spec.data));
    assert.throws(() => {
      (spec.recipe as { lr: number }).lr = 1;
    }, TypeError);
  });

  it('ignores a status block (kubectl get -o yaml output parses)', () => {
    const m = { ...manifest(minimalSpec()), status: { phase: 'Running' } };
    assert.equal(parseTrainingRecipe(m).spec.workers, 1);
  });
});

describe('recipe validation', () => {
  it('reports a wrong type with its path', () => {
    const issues = issuesOf(withRecipe({ lr: 'fast', raSampler: 'yes', epochs: 2.5 }));
    assert.deepEqual(paths(issues), [
      'spec.recipe.epochs',
      'spec.recipe.lr',
      'spec.recipe.raSampler',
    ]);
    assert.match(issues.find((i) => i.path === 'spec.recipe.lr')!.message, /number.*"fast"/);
    assert.match(issues.find((i) => i.path === 'spec.recipe.epochs')!.message, /integer/);
  });

  it('reports out-of-range values with the bound', () => {
    const issues = issuesOf(
      withRecipe({ momentum: 1, lr: 0, labelSmoothing: -0.1, randomErase: 1.5, batchSize: 0 }),
    );
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    assert.match(byPath['spec.recipe.momentum']!, /< 1/);
    assert.match(byPath['spec.recipe.lr']!, /> 0/);
    assert.match(byPath['spec.recipe.labelSmoothing']!, /≥ 0/);
    assert.match(byPath['spec.recipe.randomErase']!, /≤ 1/);
    assert.match(byPath['spec.recipe.batchSize']!, /≥ 1/);
  });

  it('rejects non-finite numbers', () => {
    assert.deepEqual(paths(issuesOf(withRecipe({ lr: Number.POSITIVE_INFINITY }))), [
      'spec.recipe.lr',
    ]);
  });

  it('rejects an unknown model, listing the valid names', () => {
    const [issue] = issuesOf(withRecipe({ model: 'resnet51' }));
    assert.equal(issue!.path, 'spec.recipe.model');
    assert.match(issue!.message, /resnet50/);
    assert.match(issue!.message, /resnext50_32x4d/);
  });

  it('rejects unknown enum values', () => {
    const issues = issuesOf(
      withRecipe({ lrScheduler: 'polylr', opt: 'adamw', autoAugment: 'ra', interpolation: 'x' }),
    );
    assert.deepEqual(paths(issues), [
      'spec.recipe.autoAugment',
      'spec.recipe.interpolation',
      'spec.recipe.lrScheduler',
      'spec.recipe.opt',
    ]);
  });

  it('rejects unknown fields at every depth', () => {
    const issues = issuesOf({
      ...manifest({
        ...minimalSpec(),
        recipe: { typo: 1 },
        data: { ...minimalSpec().data, bucket: 'x' },
        runPolicy: { retries: 2 },
        tolerations: [{ key: 'a', effect: 'NoSchedule', colour: 'red' }],
        resources: { limits: { cpu: '1' }, claims: [] },
        replicas: 3,
      }),
      extra: true,
    });
    assert.deepEqual(paths(issues), [
      'extra',
      'spec.data.bucket',
      'spec.recipe.typo',
      'spec.replicas',
      'spec.resources.claims',
      'spec.runPolicy.retries',
      'spec.tolerations[0].colour',
    ]);
    for (const i of issues) assert.equal(i.message, 'unknown field');
  });

  it('requires data and output and checks apiVersion/kind', () => {
    const issues = issuesOf({ apiVersion: 'v1', kind: 'Pod', spec: { data: { train: '' } } });
    assert.deepEqual(paths(issues), [
      'apiVersion',
      'kind',
      'spec.data.train',
      'spec.data.val',
      'spec.output',
    ]);
    assert.equal(issues.find((i) => i.path === 'spec.output')!.message, 'is required');
    assert.equal(issues.find((i) => i.path === 'spec.data.train')!.message, 'must not be empty');
  });

  it('locates issues inside maps and lists', () => {
    const issues = issuesOf(
      manifest({
        ...minimalSpec(),
        nodeSelector: { 'kubernetes.io/arch': 5 },
        resources: { requests: { memory: true } },
        tolerations: [{ operator: 'Maybe' }],
      }),
    );
    assert.deepEqual(paths(issues), [
      'spec.nodeSelector["kubernetes.io/arch"]',
      'spec.resources.requests.memory',
      'spec.tolerations[0].operator',
    ]);
  });

  it('lists every problem at once: schema errors and cross-field rules together', () => {
    const issues = issuesOf(withRecipe({ lr: 'x', valCropSize: 300, model: 'vgg16', foo: 1 }));
    assert.deepEqual(paths(issues), [
      'spec.recipe.foo',
      'spec.recipe.lr',
      'spec.recipe.model',
      'spec.recipe.valCropSize',
    ]);
  });

  it('skips a cross-field rule whose inputs are themselves invalid', () => {
    const issues = issuesOf(withRecipe({ valCropSize: 'big' }));
    assert.deepEqual(paths(issues), ['spec.recipe.valCropSize']);
    assert.match(issues[0]!.message, /integer/);
  });

  it('puts the count and the source in the message', () => {
    try {
      parseTrainingRecipe(withRecipe({ lr: -1, epochs: 0 }), 'my.yaml');
      assert.fail('expected rejection');
    } catch (err) {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /my\.yaml: 2 problems/);
    }
  });

  it('rejects a non-object document', () => {
    assert.deepEqual(paths(issuesOf([1, 2])), ['(root)']);
    assert.deepEqual(paths(issuesOf('text')), ['(root)']);
  });
});

describe('cross-field rules', () => {
  const cases = RULE_CASES;

  it('every rule in the table has a test case here', () => {
    assert.deepEqual(cases.map((c) => c.id).sort(), CROSS_FIELD_RULES.map((r) => r.id).sort());
  });

  for (const c of cases) {
    it(`${c.id}: violation reported at ${c.path}`, () => {
      const issues = issuesOf(manifest({ ...minimalSpec(), ...c.spec }));
      assert.deepEqual(paths(issues), [c.path]);
    });
  }

  it('accept the edge of each rule', () => {
    for (const extra of RULE_EDGES) parseTrainingRecipe(manifest({ ...minimalSpec(), ...extra }));
  });

  it('each rule carries a CEL expression over self', () => {
    for (const r of CROSS_FIELD_RULES) assert.match(r.cel, /self\./, r.id);
  });
});

describe('parseRecipe (hyperparameters alone)', () => {
  it('roots paths at recipe. and runs the recipe rules', () => {
    try {
      parseRecipe({ valCropSize: 300, lr: 'x' });
      assert.fail('expected rejection');
    } catch (err) {
      assert.ok(err instanceof InputError);
      assert.deepEqual(paths([...err.issues]), ['recipe.lr', 'recipe.valCropSize']);
    }
  });
});

describe('loadTrainingRecipeFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ringmaster-recipe-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads YAML and JSON', async () => {
    await writeFile(
      join(dir, 'a.yaml'),
      'apiVersion: ringmaster.dev/v1alpha1\nkind: TrainingRecipe\nmetadata: {name: a}\n' +
        'spec:\n  recipe: {lr: 0.25, weightDecay: 2e-5}\n  data: {train: /t, val: /v}\n  output: /o\n',
    );
    await writeFile(join(dir, 'b.json'), JSON.stringify(minimalSpec()));
    const a = await loadTrainingRecipeFile(join(dir, 'a.yaml'));
    assert.equal(a.spec.recipe.lr, 0.25);
    assert.equal(a.spec.recipe.weightDecay, 2e-5);
    const b = await loadTrainingRecipeFile(join(dir, 'b.json'));
    assert.equal(b.spec.output, 's3://bucket/out');
  });

  it('names the file in errors and rejects broken YAML and several documents', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'spec: [1, 2\n');
    await assert.rejects(loadTrainingRecipeFile(join(dir, 'bad.yaml')), (e: unknown) => {
      return e instanceof InputError && /bad\.yaml is not valid YAML/.test(e.message);
    });
    await writeFile(join(dir, 'two.yaml'), 'a: 1\n---\nb: 2\n');
    await assert.rejects(
      loadTrainingRecipeFile(join(dir, 'two.yaml')),
      /exactly one YAML document/,
    );
    await assert.rejects(loadTrainingRecipeFile(join(dir, 'none.yaml')), NotFoundError);
  });
});

describe('recipeHash', () => {
  const base = defaultRecipe();

  it('is a sha256 hex digest, stable across key order', () => {
    const h = recipeHash(base);
    assert.match(h, /^[0-9a-f]{64}$/);
    const reversed = Object.fromEntries(Object.entries(base).reverse()) as typeof base;
    assert.equal(recipeHash(reversed), h);
  });

  it('changes with any hyperparameter, not with checkpoint cadence', () => {
    const h = recipeHash(base);
    assert.notEqual(recipeHash({ ...base, lr: 0.4 }), h);
    assert.notEqual(recipeHash({ ...base, seed: 1 }), h);
    assert.notEqual(recipeHash({ ...base, model: 'resnet101' }), h);
    assert.equal(
      recipeHash({ ...base, checkpointEverySteps: 100, keepCheckpoints: 9, bestMetric: 'acc1' }),
      h,
    );
  });

  it('canonical JSON sorts keys at every depth', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: 'x' } }),
      '{"a":{"c":"x","d":[2,{"e":0,"f":1}]},"b":1}',
    );
  });
});
