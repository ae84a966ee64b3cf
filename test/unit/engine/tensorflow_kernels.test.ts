/**
 * The kernels Ringmaster adds to TensorFlow's backend (trainer/engine/kernels/tensorflow.ts),
 * against the same computation on the cpu backend. Runs where the native backend loads.
 */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { groupedConv2d } from '../../../trainer/engine/kernels/tensorflow.js';
import { Rng } from '../../../trainer/rng.js';
import { parityBackends, switchBackend } from '../../support/backends.js';

type Pad = 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** torchvision's symmetric padding p, in tfjs's explicit form. */
const sym = (p: number): Pad => [
  [0, 0],
  [p, p],
  [p, p],
  [0, 0],
];

function random(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
}

/** Values and gradients of sum(conv(x, w) · r) on the active backend. */
function convAndGrads(
  f: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  xs: number[],
  ws: number[],
  seed: number,
): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(random(xs, seed), xs as [number, number, number, number]);
    const w = tf.tensor4d(random(ws, seed + 1), ws as [number, number, number, number]);
    const y = f(x, w);
    const r = tf.tensor(random(y.shape, seed + 2), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), r)),
    )([x, w]);
    return [y, dx!, dw!].map((t) => Float32Array.from(t.dataSync()));
  });
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

const native = parityBackends.find((b) => b === 'tensorflow' || b === 'tensorflow-gpu');

describe('TensorFlow backend kernels vs the cpu backend', function () {
  this.timeout(60_000);
  let previous = '';
  before(async function () {
    if (!native) this.skip(); // the native backend is not built here: npm run setup:tensorflow
    previous = tf.getBackend();
  });
  after(async () => {
    if (previous) await tf.setBackend(previous);
  });

  const cases: Array<{ what: string; x: number[]; w: number[]; stride: number; pad: Pad }> = [
    {
      what: '3×3 stride 2 pad 1 (torchvision)',
      x: [2, 9, 8, 3],
      w: [3, 3, 3, 5],
      stride: 2,
      pad: sym(1),
    },
    {
      what: '7×7 stride 2 pad 3 (the stem)',
      x: [1, 12, 11, 3],
      w: [7, 7, 3, 4],
      stride: 2,
      pad: sym(3),
    },
    {
      what: '3×3 stride 1 pad 1 on a 2×2 map (dX as a forward conv)',
      x: [3, 2, 2, 8],
      w: [3, 3, 8, 6],
      stride: 1,
      pad: sym(1),
    },
    {
      what: '3×3 stride 2 pad 1 on a 4×4 map (zero-inserted dy)',
      x: [2, 4, 4, 6],
      w: [3, 3, 6, 5],
      stride: 2,
      pad: sym(1),
    },
    {
      what: '3×3 stride 2 pad 1 on a 5×5 map',
      x: [1, 5, 5, 2],
      w: [3, 3, 2, 3],
      stride: 2,
      pad: sym(1),
    },
    {
      what: '1×1 stride 2 valid on 4×4',
      x: [2, 4, 4, 3],
      w: [1, 1, 3, 4],
      stride: 2,
      pad: 'valid',
    },
    {
      what: '1×1 stride 2 valid on 5×5 (TF kernel)',
      x: [2, 5, 5, 3],
      w: [1, 1, 3, 4],
      stride: 2,
      pad: 'valid',
    },
    { what: '1×1 stride 1 valid', x: [2, 3, 5, 4], w: [1, 1, 4, 3], stride: 1, pad: 'valid' },
    {
      what: '3×3 stride 1 pad 1',
      x: [2, 6, 6, 4],
      w: [3, 3, 4, 4],
      stride: 1,
      pad: sym(1),
    },
  ];
  for (const c of cases) {
    it(`conv2d forward and both backward convs with explicit padding: ${c.what}`, async () => {
      const f = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, c.stride, c.pad);
      await switchBackend(native!);
      const mine = convAndGrads(f, c.x, c.w, 5);
      await switchBackend('cpu');
      const ref = convAndGrads(f, c.x, c.w, 5);
      for (let i = 0; i < 3; i++)
        assert.ok(maxRelErr(mine[i]!, ref[i]!) < 1e-5, `${['y', 'dx', 'dw'][i]}`);
    });
  }

  it('groupedConv2d: one TF op forward, per-group gradients on CPU, equal to the split form', async () => {
    const groups = 4;
    const pad: Pad = sym(1);
    const split = (x: tf.Tensor4D, w: tf.Tensor4D) => {
      const outG = w.shape[3] / groups;
      const xs = tf.split(x, groups, 3) as tf.Tensor4D[];
      return tf.concat(
        xs.map((xg, g) =>
          tf.conv2d(
            xg,
            tf.slice(w, [0, 0, 0, g * outG], [-1, -1, -1, outG]) as tf.Tensor4D,
            2,
            pad,
          ),
        ),
        3,
      ) as tf.Tensor4D;
    };
    await switchBackend(native!);
    const mine = convAndGrads(
      (x, w) => groupedConv2d(x, w, 2, pad, groups),
      [2, 7, 8, 8],
      [3, 3, 2, 8],
      9,
    );
    await switchBackend('cpu');
    const ref = convAndGrads(split, [2, 7, 8, 8], [3, 3, 2, 8], 9);
    for (let i = 0; i < 3; i++)
      assert.ok(maxRelErr(mine[i]!, ref[i]!) < 1e-5, `${['y', 'dx', 'dw'][i]}`);
  });
});
