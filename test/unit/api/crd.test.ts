import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildCrd, crdYaml, studyCrdYaml, toStructuralSchema } from '../../../api/crd.js';
import { GROUP, KIND, PLURAL, VERSION } from '../../../api/names.js';
import { CROSS_FIELD_RULES } from '../../../api/rules.js';
import { RecipeSchema } from '../../../api/schema.js';
import { defaultRecipe } from '../../../api/load.js';

const root = join(import.meta.dirname, '..', '..', '..');
type Node = Record<string, any>;

/** Every schema node with its path, depth first. */
function* walk(node: Node, path: string): Generator<[string, Node]> {
  yield [path, node];
  for (const [k, v] of Object.entries(node.properties ?? {}))
    yield* walk(v as Node, `${path}.${k}`);
  if (node.items) yield* walk(node.items as Node, `${path}[]`);
  if (typeof node.additionalProperties === 'object') {
    yield* walk(node.additionalProperties as Node, `${path}{}`);
  }
}

describe('CRD generator', () => {
  for (const rel of [
    'crds/ringmaster.dev_trainingstudies.yaml',
    'charts/ringmaster/crds/ringmaster.dev_trainingstudies.yaml',
  ]) {
    it(`committed ${rel} equals the generator output (run npx tsx scripts/gen-crd.ts)`, async () => {
      assert.equal(await readFile(join(root, rel), 'utf8'), studyCrdYaml());
    });
  }

  it('the study CRD: patches and grid values carry no defaults (a patch says only what it changes)', () => {
    const study = parse(studyCrdYaml()) as Node;
    const spec = study.spec.versions[0].schema.openAPIV3Schema.properties.spec as Node;
    assert.deepEqual(study.spec.names.kind, 'TrainingStudy');
    for (const [path, node] of [
      ...walk(spec.properties.steps.items.properties.patch as Node, 'patch'),
      ...walk(spec.properties.grid as Node, 'grid'),
    ]) {
      assert.ok(!('default' in node), `${path} has a default`);
    }
    // Every recipe field may be patched, nothing else.
    assert.deepEqual(
      Object.keys(spec.properties.steps.items.properties.patch.properties).sort(),
      Object.keys(RecipeSchema.properties).sort(),
    );
  });

  for (const rel of [
    'crds/ringmaster.dev_trainingrecipes.yaml',
    'charts/ringmaster/crds/ringmaster.dev_trainingrecipes.yaml',
  ]) {
    it(`committed ${rel} equals the generator output (run npx tsx scripts/gen-crd.ts)`, async () => {
      const committed = await readFile(join(root, rel), 'utf8');
      assert.equal(committed, crdYaml());
    });
  }

  for (const [kind, yaml] of [
    ['recipe', crdYaml],
    ['study', studyCrdYaml],
  ] as const) {
    it(`the ${kind} CRD reads the same with a YAML 1.1 parser (Helm and kubectl: a bare n or y is a boolean there)`, () => {
      assert.deepEqual(parse(yaml(), { version: '1.1' }), parse(yaml()));
    });
  }

  const crd = parse(crdYaml()) as Node;
  const version = crd.spec.versions[0] as Node;
  const schema = version.schema.openAPIV3Schema as Node;

  it('names the API as api/names.ts says', () => {
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.metadata.name, `${PLURAL}.${GROUP}`);
    assert.equal(crd.spec.group, 'ringmaster.dev');
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.equal(crd.spec.names.kind, KIND);
    assert.equal(crd.spec.names.plural, 'trainingrecipes');
    assert.deepEqual(crd.spec.names.shortNames, ['recipe', 'tr']);
    assert.equal(crd.spec.versions.length, 1);
    assert.equal(version.name, VERSION);
    assert.equal(version.served, true);
    assert.equal(version.storage, true);
    assert.deepEqual(version.subresources, { status: {} });
  });

  it('has printer columns for phase, epoch/total, Acc@1, EMA Acc@1 and age', () => {
    const cols = Object.fromEntries(
      (version.additionalPrinterColumns as Node[]).map((c) => [c.jsonPath, c]),
    );
    assert.equal(cols['.status.phase']?.type, 'string');
    assert.equal(cols['.status.progress.epoch']?.type, 'integer');
    assert.equal(cols['.status.progress.epochs']?.type, 'integer');
    assert.equal(cols['.status.metrics.acc1']?.name, 'Acc@1');
    assert.equal(cols['.status.metrics.emaAcc1']?.name, 'EMA Acc@1');
    assert.equal(cols['.metadata.creationTimestamp']?.type, 'date');
    // Every column's path exists in the schema (or is standard metadata).
    for (const c of version.additionalPrinterColumns as Node[]) {
      if (c.jsonPath.startsWith('.metadata.')) continue;
      let node: Node | undefined = schema;
      for (const seg of (c.jsonPath as string).slice(1).split('.')) node = node?.properties?.[seg];
      assert.ok(node, `printer column ${c.name}: ${c.jsonPath} not in the schema`);
      assert.equal(node.type, c.type === 'date' ? 'string' : c.type, c.name);
    }
  });

  it('is structural: every node has a type, no unions but int-or-string, no additionalProperties: false', () => {
    for (const [path, node] of walk(schema, '')) {
      if (node['x-kubernetes-int-or-string']) {
        assert.deepEqual(node.anyOf, [{ type: 'integer' }, { type: 'string' }], path);
        assert.equal(node.type, undefined, path);
        continue;
      }
      assert.ok(typeof node.type === 'string', `${path || '(root)'} has no type`);
      for (const banned of [
        'anyOf',
        'oneOf',
        'allOf',
        'not',
        'const',
        'patternProperties',
        '$id',
      ]) {
        assert.ok(!(banned in node), `${path}: ${banned}`);
      }
      assert.notEqual(node.additionalProperties, false, path);
      if (node.properties) assert.equal(node.type, 'object', path);
      if (node.type === 'object' && node.additionalProperties) assert.ok(!node.properties, path);
      for (const k of ['exclusiveMinimum', 'exclusiveMaximum']) {
        if (k in node)
          assert.equal(typeof node[k], 'boolean', `${path}: ${k} must be boolean in OpenAPI v3`);
      }
      if (Array.isArray(node.required)) {
        for (const r of node.required)
          assert.ok(node.properties?.[r], `${path}: required ${r} undefined`);
      }
    }
  });

  it('preserves unknown fields nowhere (unknown fields are pruned/rejected, not kept)', () => {
    assert.ok(!crdYaml().includes('x-kubernetes-preserve-unknown-fields'));
  });

  it('carries the defaults of the final recipe', () => {
    const recipe = schema.properties.spec.properties.recipe as Node;
    // Spelled out: the API server checks a default against the CEL rules as written.
    assert.deepEqual(recipe.default, { ...defaultRecipe() });
    assert.deepEqual(schema.properties.spec.properties.runPolicy.default, {
      backoffLimit: 3,
      suspend: false,
    });
    const defaults = Object.fromEntries(
      Object.entries(recipe.properties as Record<string, Node>).map(([k, v]) => [k, v.default]),
    );
    assert.deepEqual(defaults, { ...defaultRecipe() });
    assert.deepEqual(recipe.properties.model.enum.slice(0, 3), [
      'resnet18',
      'resnet34',
      'resnet50',
    ]);
  });

  it('does not list defaulted fields as required, and requires data and output', () => {
    const spec = schema.properties.spec as Node;
    assert.deepEqual(spec.required, ['data', 'output']);
    assert.equal(schema.properties.spec.properties.recipe.required, undefined);
  });

  it('translates exclusive bounds to the OpenAPI v3 form', () => {
    const lr = schema.properties.spec.properties.recipe.properties.lr as Node;
    assert.equal(lr.minimum, 0);
    assert.equal(lr.exclusiveMinimum, true);
    const momentum = schema.properties.spec.properties.recipe.properties.momentum as Node;
    assert.deepEqual([momentum.minimum, momentum.maximum, momentum.exclusiveMaximum], [0, 1, true]);
  });

  it('has every cross-field rule as a CEL rule on the right object', () => {
    const spec = schema.properties.spec as Node;
    const recipeRules = (spec.properties.recipe['x-kubernetes-validations'] as Node[]).map(
      (r) => r.rule,
    );
    const specRules = (spec['x-kubernetes-validations'] as Node[]).map((r) => r.rule);
    for (const rule of CROSS_FIELD_RULES) {
      const list = rule.scope === 'recipe' ? recipeRules : specRules;
      assert.ok(list.includes(rule.cel), `${rule.id} missing from the CRD`);
    }
    assert.equal(recipeRules.length + specRules.length, CROSS_FIELD_RULES.length);
    for (const r of [...(spec['x-kubernetes-validations'] as Node[])]) assert.ok(r.message);
  });

  it('bounds the strings and maps that CEL rules read (keeps the estimated cost low)', () => {
    const spec = schema.properties.spec as Node;
    for (const f of ['train', 'val', 'endpoint'])
      assert.ok(spec.properties.data.properties[f].maxLength > 0, f);
    assert.ok(spec.properties.output.maxLength > 0);
    assert.ok(spec.properties.resources.properties.limits.maxProperties > 0);
  });

  it('has a status schema with phase, conditions (list-map by type), progress and metrics', () => {
    const status = schema.properties.status as Node;
    for (const f of [
      'phase',
      'conditions',
      'progress',
      'metrics',
      'lastCheckpoint',
      'weights',
      'restarts',
      'startTime',
      'completionTime',
      'observedGeneration',
    ]) {
      assert.ok(status.properties[f], f);
    }
    assert.equal(status.properties.conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(status.properties.conditions['x-kubernetes-list-map-keys'], ['type']);
    assert.deepEqual(Object.keys(status.properties.progress.properties), [
      'epoch',
      'epochs',
      'step',
      'totalSteps',
      'imagesPerSec',
      'etaSeconds',
    ]);
    assert.deepEqual(Object.keys(status.properties.metrics.properties), [
      'acc1',
      'acc5',
      'emaAcc1',
      'emaAcc5',
    ]);
  });

  it('toStructuralSchema does not mutate the TypeBox schema', () => {
    const before = JSON.stringify(RecipeSchema);
    toStructuralSchema(RecipeSchema);
    assert.equal(JSON.stringify(RecipeSchema), before);
    assert.deepEqual(buildCrd(), buildCrd());
  });
});
