import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../trainer/engine/backend.js';
import { parityBackends, runSuiteOn } from '../../support/backends.js';
import { getArch, type ResNetArch } from '../../../trainer/models/arch.js';
import { createResNet } from '../../../trainer/models/resnet.js';
import { trainStepGrads } from '../../../trainer/models/train-step.js';
import { readSafetensors, type SafeTensor } from '../../../trainer/models/safetensors.js';
import type { InputError } from '../../../common/errors.js';
import { loadStateDict, stateDict, torchShape } from '../../../trainer/models/weights.js';

const dir = new URL('../../fixtures/oracle/models/', import.meta.url).pathname;

/** Built in test/oracle/models_resnet.py from torchvision's BasicBlock / Bottleneck. */
const cases: Array<{ name: string; arch: ResNetArch; numClasses: number }> = [
  {
    name: 'basic_imagenet_stem',
    arch: {
      name: 'oracle_basic',
      block: 'basic',
      layers: [1, 1, 1, 1],
      groups: 1,
      widthPerGroup: 64,
      planes: [8, 16, 32, 64],
      stem: 'imagenet',
    },
    numClasses: 10,
  },
  { name: 'resnext_mini', arch: getArch('resnext_mini'), numClasses: 10 },
  {
    name: 'basic_two_blocks_odd',
    arch: {
      name: 'oracle_two',
      block: 'basic',
      layers: [2, 1, 1, 1],
      groups: 1,
      widthPerGroup: 64,
      planes: [8, 8, 16, 16],
      stem: 'imagenet',
    },
    numClasses: 5,
  },
];

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}

function nhwc(t: { shape: number[]; data: Float32Array }): tf.Tensor4D {
  return tf.tidy(() =>
    tf.transpose(tf.tensor4d(t.data, t.shape as [number, number, number, number]), [0, 2, 3, 1]),
  );
}

for (const backend of parityBackends) {
  describe(`ResNet vs torchvision (oracle fixtures) on ${backend}`, function () {
    // The cpu backend is the plain-JS reference: a resnext_mini gradient step took over 60 s
    // at load average 20 on 2 cores.
    this.timeout(backend === 'cpu' ? 240000 : 60000);
    runSuiteOn(backend);

    for (const c of cases) {
      it(`${c.name}: eval logits, training logits and BN running stats`, async () => {
        const weights = await readSafetensors(`${dir}${c.name}.weights.safetensors`);
        const io = (await readSafetensors(`${dir}${c.name}.io.safetensors`)).tensors;
        const model = createResNet(c.arch, { numClasses: c.numClasses, seed: 0 });
        loadStateDict(model, weights.tensors);
        const x = nhwc(io.get('input')! as { shape: number[]; data: Float32Array });

        const evalOut = model.forward(x, false);
        const e = relErr(evalOut.logits.dataSync(), io.get('logits_eval')!.data as Float32Array);
        assert.ok(e <= 1e-4, `eval logits rel err ${e}`);

        const trainOut = model.forward(x, true);
        const t = relErr(trainOut.logits.dataSync(), io.get('logits_train')!.data as Float32Array);
        assert.ok(t <= 1e-4, `training logits rel err ${t}`);
        model.updateBnStats(trainOut.bnStats!);
        const after = stateDict(model);
        let checked = 0;
        for (const [key, ref] of io) {
          if (!key.startsWith('after.')) continue;
          const mine = after.get(key.slice('after.'.length))!;
          const a = Array.from(mine.data as ArrayLike<number | bigint>, Number);
          const b = Array.from(ref.data as ArrayLike<number | bigint>, Number);
          assert.ok(relErr(a, b) <= 1e-4, `${key} rel err ${relErr(a, b)}`);
          checked++;
        }
        assert.ok(checked > 10);
        tf.dispose([x, evalOut.logits, trainOut.logits]);
        model.dispose();
      });
    }
  });
}

for (const backend of parityBackends) {
  describe(`one training step: gradients vs torch autograd (oracle fixtures) on ${backend}`, function () {
    // The cpu backend is the plain-JS reference: a resnext_mini gradient step took over 60 s
    // at load average 20 on 2 cores.
    this.timeout(backend === 'cpu' ? 240000 : 60000);
    runSuiteOn(backend);

    for (const c of cases.filter((k) => k.name !== 'basic_imagenet_stem')) {
      it(`${c.name}: loss and every parameter's gradient`, async () => {
        const weights = await readSafetensors(`${dir}${c.name}.weights.safetensors`);
        const io = (await readSafetensors(`${dir}${c.name}.io.safetensors`)).tensors;
        const ref = (await readSafetensors(`${dir}${c.name}.grads.safetensors`)).tensors;
        const model = createResNet(c.arch, { numClasses: c.numClasses, seed: 0 });
        loadStateDict(model, weights.tensors);
        const x = nhwc(io.get('input')! as { shape: number[]; data: Float32Array });
        const n = x.shape[0];
        const y = tf.tidy(() =>
          tf.cast(
            tf.oneHot(
              tf.tensor1d(
                Array.from({ length: n }, (_, i) => i % c.numClasses),
                'int32',
              ),
              c.numClasses,
            ),
            'float32',
          ),
        );
        const { loss, grads } = trainStepGrads(
          model,
          x,
          (logits) => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar,
        );
        assert.ok(
          Math.abs(loss - Number(ref.get('loss')!.data[0]!)) < 1e-5 * Math.abs(loss),
          `loss ${loss}`,
        );
        let checked = 0;
        for (const [name, g] of grads) {
          const torchLayout = tf.tidy(() =>
            g.rank === 4
              ? tf.transpose(g, [3, 2, 0, 1])
              : name === 'fc.weight'
                ? tf.transpose(g)
                : g.clone(),
          );
          const r = ref.get(`grad.${name}`)!.data as Float32Array;
          const m = torchLayout.dataSync() as Float32Array;
          let maxDiff = 0;
          let maxRef = 0;
          r.forEach((v, i) => {
            maxDiff = Math.max(maxDiff, Math.abs(m[i]! - v));
            maxRef = Math.max(maxRef, Math.abs(v));
          });
          // Absolute floor for gradients that cancel to ~0 (float32 rounding only).
          assert.ok(maxDiff <= 1e-4 * maxRef + 1e-6, `${name}: rel err ${maxDiff / maxRef}`);
          torchLayout.dispose();
          checked++;
        }
        assert.equal(checked, [...ref.keys()].filter((k) => k.startsWith('grad.')).length);
        tf.dispose([x, y, ...grads.values()]);
        model.dispose();
      });
    }
  });
}

describe('full-size torchvision state_dicts (names, shapes, dtypes)', function () {
  this.timeout(60000);
  const shapes = JSON.parse(readFileSync(`${dir}state_dict_shapes.json`, 'utf8')) as Record<
    string,
    Array<[string, number[], string]>
  >;
  before(async () => {
    await initBackend('wasm');
  });
  for (const arch of ['resnet50', 'resnext50_32x4d', 'wide_resnet50_2', 'resnet18']) {
    it(`${arch} has torchvision's state_dict layout`, () => {
      const model = createResNet(getArch(arch), { numClasses: 1000, seed: 0, init: 'zeros' });
      const ref = shapes[arch]!;
      assert.deepEqual(
        model.stateNames,
        ref.map((r) => r[0]),
      );
      for (const [name, shape, dtype] of ref) {
        const v = model.params.get(name) ?? model.buffers.get(name)!;
        assert.deepEqual(torchShape(name, v), shape, name);
        assert.equal(v.dtype === 'int32' ? 'int64' : 'float32', dtype, name);
      }
      model.dispose();
    });
  }

  it('a torchvision resnet50 state_dict loads strictly (names + shapes)', () => {
    const model = createResNet(getArch('resnet50'), { numClasses: 1000, seed: 0, init: 'zeros' });
    const dict = new Map<string, SafeTensor>();
    for (const [name, shape, dtype] of shapes.resnet50!) {
      const n = shape.reduce((a, b) => a * b, 1);
      dict.set(
        name,
        dtype === 'int64'
          ? { dtype: 'I64', shape, data: new BigInt64Array(n).fill(5n) }
          : { dtype: 'F32', shape, data: new Float32Array(n).fill(0.5) },
      );
    }
    loadStateDict(model, dict, { strict: true });
    assert.equal(model.buffers.get('layer4.2.bn3.num_batches_tracked')!.dataSync()[0], 5);
    assert.equal(model.params.get('fc.weight')!.dataSync()[7], 0.5);
    dict.get('layer3.1.conv2.weight')!.shape = [256, 256, 1, 3];
    assert.throws(
      () => loadStateDict(model, dict),
      (err: InputError) =>
        err.issues.some(
          (i) =>
            i.path === 'layer3.1.conv2.weight' && /expected \[256, 256, 3, 3\]/.test(i.message),
        ),
    );
    dict.delete('fc.bias');
    assert.throws(
      () => loadStateDict(model, dict),
      (err: InputError) => err.issues.some((i) => i.path === 'fc.bias' && i.message === 'missing'),
    );
    model.dispose();
  });
});
