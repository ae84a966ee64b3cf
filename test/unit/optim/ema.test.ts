import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';

import { ModelEma, shouldUpdateEma } from '../../../trainer/optim/ema.js';
import { emaDecay } from '../../../trainer/optim/ema-decay.js';
import { assertClose, loadFixture, testBackends, useBackend, useCpu } from './fixture.js';

type Values = Record<string, number[]>;
interface EmaCase {
  name: string;
  decay: number;
  epochs: number;
  stepsPerEpoch: number;
  modelEmaSteps: number;
  lrWarmupEpochs: number;
  shapes: Record<string, number[]>;
  dtypes: Record<string, string>;
  params: string[];
  buffers: string[];
  trace: Array<{
    epoch: number;
    step: number;
    updated: boolean;
    model: Values;
    ema: Values;
    nAveraged: number;
  }>;
}
const fixture = loadFixture<{ recipeDecay: number; cases: EmaCase[] }>('ema.json');

/** The model's state at one trace point as (params, buffers); int64 buffers become int32. */
function modelAt(c: EmaCase, t: number): [Map<string, tf.Tensor>, Map<string, tf.Tensor>] {
  const make = (names: string[]) =>
    new Map(
      names.map((k) => [
        k,
        tf.tensor(
          c.trace[t]!.model[k]!,
          c.shapes[k],
          c.dtypes[k] === 'float32' ? 'float32' : 'int32',
        ),
      ]),
    );
  return [make(c.params), make(c.buffers)];
}

function disposeAll(...maps: Array<Map<string, tf.Tensor>>): void {
  for (const m of maps) for (const t of m.values()) t.dispose();
}

function checkEma(c: EmaCase, t: number, ema: ModelEma): void {
  const want = c.trace[t]!;
  assert.equal(ema.nAveraged, want.nAveraged, `${c.name} trace ${t} nAveraged`);
  for (const [k, v] of [...ema.params, ...ema.buffers]) {
    const tol = v.dtype === 'int32' ? 0 : 1e-6;
    assertClose(v.dataSync(), want.ema[k]!, `${c.name} trace ${t} ${k}`, tol, tol);
  }
}

function replay(c: EmaCase, ema: ModelEma, from: number, to: number): void {
  for (let t = from; t < to; t++) {
    const { epoch, step } = c.trace[t]!;
    const [p, b] = modelAt(c, t);
    const updated = ema.afterStep(
      {
        epoch,
        stepInEpoch: step,
        modelEmaSteps: c.modelEmaSteps,
        lrWarmupEpochs: c.lrWarmupEpochs,
      },
      p,
      b,
    );
    disposeAll(p, b);
    assert.equal(updated, c.trace[t]!.updated, `${c.name} trace ${t} updated`);
    checkEma(c, t, ema);
  }
}

describe('optim/ema', () => {
  before(useCpu);

  it("agrees with emaDecay() on the recipe's adjusted decay (the oracle's recipe-decay case)", () => {
    const d = emaDecay(
      { modelEma: true, modelEmaDecay: 0.99998, modelEmaSteps: 32, batchSize: 128, epochs: 600 },
      8,
    );
    assert.ok(d !== null && Math.abs(d - fixture.recipeDecay) < 1e-12, `${d}`);
    assert.equal(fixture.cases[0]!.decay, fixture.recipeDecay);
  });

  for (const backend of testBackends)
    describe(`on ${backend}`, () => {
      let previous = 'cpu';
      before(async () => {
        previous = await useBackend(backend);
      });
      after(async () => {
        await useBackend(previous);
      });
      for (const c of fixture.cases) {
        it(`matches torchvision's ExponentialMovingAverage under train.py's schedule (${c.name})`, () => {
          const ema = new ModelEma(c.decay);
          replay(c, ema, 0, c.trace.length);
          ema.dispose();
        });
      }
    });

  it('continues identically after state() / loadState() mid-run', () => {
    const c = fixture.cases.find((x) => x.name === 'strong-decay')!;
    const first = new ModelEma(c.decay);
    const cut = 8;
    replay(c, first, 0, cut);
    const saved = first.state();
    first.dispose();
    const [p, b] = modelAt(c, 0);
    const resumed = new ModelEma(c.decay);
    resumed.loadState(saved, p, b);
    disposeAll(p, b);
    assert.equal(resumed.buffers.get('1.num_batches_tracked')!.dtype, 'int32');
    replay(c, resumed, cut, c.trace.length);
    resumed.dispose();
  });

  it('rejects a state that lacks a tensor of the model', () => {
    const c = fixture.cases[0]!;
    const [p, b] = modelAt(c, 0);
    const ema = new ModelEma(0.9);
    assert.throws(
      () => ema.loadState({ nAveraged: 1, tensors: new Map() }, p, b),
      /no tensor 0.weight/,
    );
    disposeAll(p, b);
  });

  it('updates on steps i with i mod k = 0 (i restarts every epoch)', () => {
    assert.deepEqual(
      [0, 1, 31, 32, 33, 64].map((i) => shouldUpdateEma(i, 32)),
      [true, false, false, true, false, true],
    );
  });

  it('keeps tf.memory().numTensors flat across updates', () => {
    const c = fixture.cases[1]!;
    const [p, b] = modelAt(c, 0);
    const ema = new ModelEma(0.5);
    ema.update(p, b);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) ema.update(p, b);
    assert.equal(tf.memory().numTensors, before);
    ema.dispose();
    disposeAll(p, b);
  });
});
