import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../../trainer/engine/backend.js';
import { getArch } from '../../../trainer/models/arch.js';
import { createResNet, type ResNetModel } from '../../../trainer/models/resnet.js';
import { readSafetensors, writeSafetensors } from '../../../trainer/models/safetensors.js';
import { trainStepGrads } from '../../../trainer/models/train-step.js';
import { loadStateDict, stateDict } from '../../../trainer/models/weights.js';
import { Rng } from '../../../trainer/rng.js';

function batch(
  n: number,
  size: number,
  classes: number,
  seed: number,
): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const xs = new Float32Array(n * size * size * 3);
  for (let i = 0; i < xs.length; i++) xs[i] = rng.normal();
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  return {
    x: tf.tensor4d(xs, [n, size, size, 3]),
    y: tf.tidy(
      () => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D,
    ),
  };
}

const crossEntropy =
  (y: tf.Tensor2D) =>
  (logits: tf.Tensor2D): tf.Scalar =>
    tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar);

function sgdStep(model: ResNetModel, grads: Map<string, tf.Tensor>, lr: number): void {
  tf.tidy(() => {
    for (const [name, g] of grads) {
      const p = model.params.get(name)!;
      p.assign(tf.sub(p, tf.mul(g, lr)));
    }
  });
  tf.dispose([...grads.values()]);
}

describe('ResNet training on wasm', function () {
  this.timeout(60000);
  before(async () => {
    await initBackend('wasm');
  });

  it('keeps tf.memory().numTensors flat across training steps', () => {
    const model = createResNet(getArch('resnext_mini'), { numClasses: 4, seed: 1 });
    const { x, y } = batch(4, 16, 4, 2);
    const counts: number[] = [];
    for (let step = 0; step < 4; step++) {
      const { grads } = trainStepGrads(model, x, crossEntropy(y));
      sgdStep(model, grads, 0.01);
      counts.push(tf.memory().numTensors);
    }
    assert.deepEqual(counts, [counts[0], counts[0], counts[0], counts[0]]);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('a 20-step run of resnet_mini shows falling loss', () => {
    const model = createResNet(getArch('resnet_mini'), { numClasses: 4, seed: 3 });
    const { x, y } = batch(8, 16, 4, 4);
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const { loss, grads } = trainStepGrads(model, x, crossEntropy(y));
      losses.push(loss);
      sgdStep(model, grads, 0.05);
    }
    const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
    assert.ok(losses.every(Number.isFinite));
    assert.ok(
      last < 0.5 * first,
      `loss ${first.toFixed(3)} → ${last.toFixed(3)}: ${losses.map((l) => l.toFixed(3)).join(' ')}`,
    );
    assert.equal(model.buffers.get('layer4.0.bn2.num_batches_tracked')!.dataSync()[0], 20);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('gradients of a ResNeXt step agree between wasm and cpu (grouped convs, strides)', async () => {
    const arch = getArch('resnext_mini');
    const run = async (backend: 'wasm' | 'cpu'): Promise<Map<string, Float32Array>> => {
      await tf.setBackend(backend);
      const model = createResNet(arch, { numClasses: 4, seed: 5 });
      const { x, y } = batch(3, 13, 4, 6);
      const { grads } = trainStepGrads(model, x, crossEntropy(y));
      const out = new Map([...grads].map(([k, g]) => [k, g.dataSync() as Float32Array]));
      tf.dispose([...grads.values(), x, y]);
      model.dispose();
      return out;
    };
    const ref = await run('cpu');
    const mine = await run('wasm');
    assert.equal(mine.size, ref.size);
    for (const [name, r] of ref) {
      const m = mine.get(name)!;
      let maxDiff = 0;
      let maxRef = 0;
      for (let i = 0; i < r.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(m[i]! - r[i]!));
        maxRef = Math.max(maxRef, Math.abs(r[i]!));
      }
      // Absolute floor: a BN γ whose gradient cancels to ~1e-5 differs in float32 rounding only.
      assert.ok(maxDiff <= 1e-4 * maxRef + 1e-6, `${name}: rel err ${maxDiff / maxRef}`);
    }
  });

  it('separates norm params (resnet50: 106 BN tensors, 55 others) in state_dict order', () => {
    const model = createResNet(getArch('resnet50'), { numClasses: 1000, seed: 0, init: 'zeros' });
    const names = [...model.params.keys()];
    assert.equal(names.filter((n) => model.isNormParam(n)).length, 106);
    assert.equal(names.filter((n) => !model.isNormParam(n)).length, 55);
    assert.deepEqual(names.slice(0, 3), ['conv1.weight', 'bn1.weight', 'bn1.bias']);
    assert.deepEqual(names.slice(-2), ['fc.weight', 'fc.bias']);
    model.dispose();
  });

  it('draws the same init for the same seed, and torchvision-scaled conv weights', () => {
    const a = createResNet(getArch('resnet_mini'), { numClasses: 10, seed: 9 });
    const b = createResNet(getArch('resnet_mini'), { numClasses: 10, seed: 9 });
    const w = a.params.get('layer4.0.conv1.weight')!.dataSync() as Float32Array;
    assert.deepEqual(w, b.params.get('layer4.0.conv1.weight')!.dataSync());
    // kaiming normal, fan_out = 128·3·3
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert.ok(Math.abs(std - Math.sqrt(2 / (128 * 9))) < 0.05 * std, `std ${std}`);
    const fc = a.params.get('fc.weight')!.dataSync() as Float32Array;
    const bound = 1 / Math.sqrt(128);
    assert.ok(fc.every((v) => Math.abs(v) <= bound) && fc.some((v) => Math.abs(v) > 0.9 * bound));
    a.dispose();
    b.dispose();
  });

  it('round-trips weights through a safetensors file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rm-weights-'));
    try {
      const a = createResNet(getArch('resnext_mini'), { numClasses: 7, seed: 11 });
      const sd = stateDict(a);
      await writeSafetensors(join(dir, 'model.safetensors'), sd, { arch: 'resnext_mini' });
      const file = await readSafetensors(join(dir, 'model.safetensors'));
      assert.equal(file.metadata.arch, 'resnext_mini');
      assert.deepEqual(file.tensors.get('layer2.0.conv2.weight')!.shape, [8, 2, 3, 3]);
      assert.equal(file.tensors.get('bn1.num_batches_tracked')!.dtype, 'I64');
      const b = createResNet(getArch('resnext_mini'), { numClasses: 7, seed: 12 });
      loadStateDict(b, file.tensors);
      for (const [name, v] of a.params)
        assert.deepEqual(b.params.get(name)!.dataSync(), v.dataSync(), name);
      a.dispose();
      b.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
