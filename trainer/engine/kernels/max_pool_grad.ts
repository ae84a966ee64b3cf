/**
 * MaxPoolGrad for wasm in JS on the heap: the built-in C++ kernel measured ≈ 10× slower than
 * the forward pool on the ResNet stem's shape. The gradient goes to the first maximum of each
 * window in row-major order (as PyTorch and tfjs's cpu backend pick it); padding never wins.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { zeros, type Shape4 } from './heap.js';
import { WasmOps, type WasmBackendLike } from './wasm_ops.js';

interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function maxPoolGrad(
  ops: WasmOps,
  dy: TensorInfo,
  input: TensorInfo,
  attrs: PoolAttrs,
): TensorInfo {
  const info = backend_util.computePool2DInfo(
    input.shape as Shape4,
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const [n, h, w, c] = input.shape as Shape4;
  const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: fh, filterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const dx = zeros(ops, [n, h, w, c]);
  const x = ops.view(input);
  const g = ops.view(dy);
  const d = ops.view(dx);
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      for (let xo = 0; xo < wo; xo++) {
        best.fill(-Infinity);
        where.fill(-1);
        for (let i = 0; i < fh; i++) {
          const hy = y * sh + i - top;
          if (hy < 0 || hy >= h) continue;
          for (let j = 0; j < fw; j++) {
            const wx = xo * sw + j - left;
            if (wx < 0 || wx >= w) continue;
            const base = ((b * h + hy) * w + wx) * c;
            for (let k = 0; k < c; k++) {
              const v = x[base + k]!;
              if (v > best[k]! || where[k] === -1) {
                best[k] = v;
                where[k] = base + k;
              }
            }
          }
        }
        const o = ((b * ho + y) * wo + xo) * c;
        for (let k = 0; k < c; k++) if (where[k]! >= 0) d[where[k]!] += g[o + k]!;
      }
    }
  }
  return dx;
}

const kernelFunc: KernelFunc = ({ inputs, attrs, backend }) => {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  return maxPoolGrad(
    new WasmOps(backend as unknown as WasmBackendLike),
    dy,
    input,
    attrs as unknown as PoolAttrs,
  );
};

const config: KernelConfig = { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc };

export function registerWasmMaxPoolGrad(): void {
  if (tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc === kernelFunc) return;
  if (tf.getKernel('MaxPoolGrad', 'wasm') !== undefined) tf.unregisterKernel('MaxPoolGrad', 'wasm');
  tf.registerKernel(config);
}
