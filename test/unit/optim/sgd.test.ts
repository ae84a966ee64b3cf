import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';

import {
  isResNetNormParam,
  paramGroups,
  SGD,
  type ParamGroup,
} from '../../../trainer/optim/sgd.js';
import { assertClose, loadFixture, testBackends, useBackend, useCpu } from './fixture.js';

type Values = Record<string, number[]>;
interface SgdCase {
  name: string;
  momentum: number;
  nesterov: boolean;
  groups: ParamGroup[];
  shapes: Record<string, number[]>;
  init: Values;
  steps: Array<{ lr: number; grads: Values; params: Values; momentum: Values }>;
}
const fixture = loadFixture<{ cases: SgdCase[] }>('sgd.json');

function makeParams(c: SgdCase): Map<string, tf.Variable> {
  const m = new Map<string, tf.Variable>();
  for (const [k, v] of Object.entries(c.init))
    m.set(k, tf.variable(tf.tensor(v, c.shapes[k]), true));
  return m;
}

function feed(c: SgdCase, s: number, opt: SGD, params: Map<string, tf.Variable>): void {
  const step = c.steps[s]!;
  const grads = new Map<string, tf.Tensor>();
  for (const [k, v] of Object.entries(step.grads)) grads.set(k, tf.tensor(v, c.shapes[k]));
  opt.step(params, grads, step.lr);
  for (const g of grads.values()) g.dispose();
}

function check(c: SgdCase, s: number, opt: SGD, params: Map<string, tf.Variable>): void {
  const step = c.steps[s]!;
  const bufs = opt.state();
  for (const [k, p] of params) {
    assertClose(p.dataSync(), step.params[k]!, `${c.name} step ${s} ${k}`);
    assertClose(bufs.get(k)!, step.momentum[k]!, `${c.name} step ${s} momentum ${k}`);
  }
}

function dispose(params: Map<string, tf.Variable>, opt: SGD): void {
  for (const p of params.values()) p.dispose();
  opt.dispose();
}

describe('optim/sgd', () => {
  before(useCpu);

  for (const backend of testBackends)
    describe(`on ${backend}`, () => {
      let previous = 'cpu';
      before(async () => {
        previous = await useBackend(backend);
      });
      after(async () => {
        await useBackend(previous);
      });
      for (const c of fixture.cases) oracleCase(c);
    });

  function oracleCase(c: SgdCase): void {
    it(`matches torch.optim.SGD over three steps with two groups (${c.name})`, () => {
      const params = makeParams(c);
      const opt = new SGD(c.groups, { momentum: c.momentum, nesterov: c.nesterov });
      for (let s = 0; s < c.steps.length; s++) {
        feed(c, s, opt, params);
        check(c, s, opt, params);
      }
      dispose(params, opt);
    });
  }

  it('resumes from saved momentum buffers exactly as if never stopped', () => {
    const c = fixture.cases.find((x) => x.name === 'large-decay')!;
    const params = makeParams(c);
    const first = new SGD(c.groups, { momentum: c.momentum });
    feed(c, 0, first, params);
    const saved = first.state();
    first.dispose();
    const resumed = new SGD(c.groups, { momentum: c.momentum });
    resumed.loadState(saved, params);
    feed(c, 1, resumed, params);
    feed(c, 2, resumed, params);
    check(c, 2, resumed, params);
    dispose(params, resumed);
  });

  it('treats a parameter without a restored buffer as on its first step', () => {
    const c = fixture.cases.find((x) => x.name === 'large-decay')!;
    const params = makeParams(c);
    const opt = new SGD(c.groups, { momentum: c.momentum });
    // A fresh optimizer loading an empty state behaves as torch's first step: same as step 0.
    opt.loadState(new Map(), params);
    feed(c, 0, opt, params);
    check(c, 0, opt, params);
    dispose(params, opt);
  });

  it('skips parameters without a gradient and creates no buffer for them', () => {
    const params = new Map([
      ['a', tf.variable(tf.tensor([1, 2]))],
      ['b', tf.variable(tf.tensor([3]))],
    ]);
    const opt = new SGD([{ names: ['a', 'b'], weightDecay: 0.5 }], { momentum: 0.9 });
    const g = tf.tensor([1, 1]);
    opt.step(params, new Map([['a', g]]), 0.1);
    // a: g = 1 + 0.5·p = [1.5, 2]; p − 0.1·g
    assertClose(params.get('a')!.dataSync(), [0.85, 1.8], 'a');
    assertClose(params.get('b')!.dataSync(), [3], 'b');
    assert.equal(opt.hasBuffer('a'), true);
    assert.equal(opt.hasBuffer('b'), false);
    g.dispose();
    dispose(params, opt);
  });

  it('agrees with a float64 reference for any momentum, Nesterov, decay, lr and missing grads', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 0.5, 0.9),
        fc.boolean(),
        fc.constantFrom(0, 1e-4, 0.3),
        fc.array(
          fc.record({
            lr: fc.double({ min: 0, max: 1, noNaN: true }),
            grad: fc.option(
              fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 3, maxLength: 3 }),
            ),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        (momentum, nesterovWanted, wd, steps) => {
          const nesterov = nesterovWanted && momentum > 0;
          const p0 = [0.5, -1, 2];
          const params = new Map([['w', tf.variable(tf.tensor(p0), true)]]);
          const opt = new SGD([{ names: ['w'], weightDecay: wd }], { momentum, nesterov });
          const ref = [...p0];
          let buf: number[] | null = null;
          for (const s of steps) {
            if (s.grad === null) {
              opt.step(params, new Map(), s.lr);
              continue;
            }
            const gt = tf.tensor(s.grad);
            opt.step(params, new Map([['w', gt]]), s.lr);
            gt.dispose();
            const g = s.grad.map((x, i) => x + wd * ref[i]!);
            let d = g;
            if (momentum !== 0) {
              const b: number[] = buf === null ? [...g] : buf.map((x, i) => momentum * x + g[i]!);
              buf = b;
              d = nesterov ? g.map((x, i) => x + momentum * b[i]!) : b;
            }
            for (let i = 0; i < 3; i++) ref[i] = ref[i]! - s.lr * d[i]!;
          }
          assertClose(params.get('w')!.dataSync(), ref, 'w', 1e-5, 1e-5);
          assert.equal(opt.hasBuffer('w'), momentum !== 0 && steps.some((s) => s.grad !== null));
          dispose(params, opt);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps tf.memory().numTensors flat across steps', () => {
    const c = fixture.cases[0]!;
    const params = makeParams(c);
    const opt = new SGD(c.groups, { momentum: 0.9, nesterov: true });
    const grads = new Map<string, tf.Tensor>();
    for (const [k, v] of Object.entries(c.steps[0]!.grads)) grads.set(k, tf.tensor(v, c.shapes[k]));
    opt.step(params, grads, 0.1); // creates the buffers
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) opt.step(params, grads, 0.1);
    assert.equal(tf.memory().numTensors, before);
    for (const g of grads.values()) g.dispose();
    dispose(params, opt);
  });

  it('rejects a checkpoint buffer of the wrong size and keeps its old state', () => {
    const params = new Map([['a', tf.variable(tf.tensor([1, 2]))]]);
    const opt = new SGD([{ names: ['a'], weightDecay: 0 }], { momentum: 0.9 });
    opt.loadState(new Map([['a', new Float32Array([5, 6])]]), params);
    assert.throws(() => opt.loadState(new Map([['a', new Float32Array(3)]]), params), /3 values/);
    assert.throws(() => opt.loadState(new Map([['z', new Float32Array(1)]]), params), /unknown/);
    assert.deepEqual([...opt.state().get('a')!], [5, 6]);
    dispose(params, opt);
  });

  it('rejects a parameter in two groups', () => {
    assert.throws(
      () =>
        new SGD(
          [
            { names: ['a'], weightDecay: 0 },
            { names: ['a'], weightDecay: 1 },
          ],
          { momentum: 0.9 },
        ),
      /two groups/,
    );
  });

  describe('paramGroups', () => {
    interface Split {
      names: string[];
      other: string[];
      norm: string[];
    }
    const groups = loadFixture<{ models: Record<string, Split> }>('groups.json');

    for (const [model, split] of Object.entries(groups.models)) {
      it(`splits ${model} as torchvision's set_weight_decay does`, () => {
        const g = paramGroups(split.names, isResNetNormParam, {
          weightDecay: 2e-5,
          normWeightDecay: 0,
        });
        assert.deepEqual(g, [
          { names: split.other, weightDecay: 2e-5 },
          { names: split.norm, weightDecay: 0 },
        ]);
      });
    }

    it('gives ResNet50 106 norm tensors and 55 others (RECIPE.md)', () => {
      const split = groups.models['resnet50']!;
      assert.equal(split.names.filter(isResNetNormParam).length, 106);
      assert.equal(split.names.filter((n) => !isResNetNormParam(n)).length, 55);
    });

    it('makes one group without a norm weight decay, and drops empty groups', () => {
      assert.deepEqual(paramGroups(['a', 'bn1.weight'], isResNetNormParam, { weightDecay: 1e-4 }), [
        { names: ['a', 'bn1.weight'], weightDecay: 1e-4 },
      ]);
      assert.deepEqual(
        paramGroups(['bn1.weight'], isResNetNormParam, { weightDecay: 1e-4, normWeightDecay: 0 }),
        [{ names: ['bn1.weight'], weightDecay: 0 }],
      );
    });
  });
});
