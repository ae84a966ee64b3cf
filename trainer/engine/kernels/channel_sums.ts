/**
 * Per-channel reductions for BatchNorm over NHWC tensors, in one JS pass on the wasm heap.
 * tfjs reduces over leading axes by transposing them last first, which made BN's Mean/Sum
 * about 6% of a ResNet training step on wasm. Float64 accumulators.
 *
 * Kernels (wasm only; batchnorm.ts composes tf ops on other backends):
 * - RingmasterChannelMoments {x} → [2, C]: batch mean, biased variance.
 * - RingmasterChannelGradSums {dy, x} → [2, C]: Σ dy, Σ dy·x.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { WasmOps, type WasmBackendLike } from './wasm_ops.js';

export const CHANNEL_MOMENTS = 'RingmasterChannelMoments';
export const CHANNEL_GRAD_SUMS = 'RingmasterChannelGradSums';

const moments: KernelFunc = ({ inputs, backend }) => {
  const ops = new WasmOps(backend as unknown as WasmBackendLike);
  const { x } = inputs as { x: TensorInfo };
  const c = x.shape[x.shape.length - 1]!;
  const out = ops.backend.makeOutput([2, c], 'float32');
  const v = ops.view(x);
  const rows = v.length / c;
  const sum = new Float64Array(c);
  for (let r = 0, o = 0; r < rows; r++, o += c) for (let k = 0; k < c; k++) sum[k] += v[o + k]!;
  const mean = sum.map((s) => s / rows);
  const sq = new Float64Array(c);
  for (let r = 0, o = 0; r < rows; r++, o += c) {
    for (let k = 0; k < c; k++) {
      const d = v[o + k]! - mean[k]!;
      sq[k] += d * d;
    }
  }
  const res = ops.view(out);
  for (let k = 0; k < c; k++) {
    res[k] = mean[k]!;
    res[c + k] = sq[k]! / rows;
  }
  return out;
};

const gradSums: KernelFunc = ({ inputs, backend }) => {
  const ops = new WasmOps(backend as unknown as WasmBackendLike);
  const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
  const c = x.shape[x.shape.length - 1]!;
  const out = ops.backend.makeOutput([2, c], 'float32');
  const g = ops.view(dy);
  const v = ops.view(x);
  const rows = v.length / c;
  const sg = new Float64Array(c);
  const sgx = new Float64Array(c);
  for (let r = 0, o = 0; r < rows; r++, o += c) {
    for (let k = 0; k < c; k++) {
      const d = g[o + k]!;
      sg[k] += d;
      sgx[k] += d * v[o + k]!;
    }
  }
  const res = ops.view(out);
  for (let k = 0; k < c; k++) {
    res[k] = sg[k]!;
    res[c + k] = sgx[k]!;
  }
  return out;
};

const configs: KernelConfig[] = [
  { kernelName: CHANNEL_MOMENTS, backendName: 'wasm', kernelFunc: moments },
  { kernelName: CHANNEL_GRAD_SUMS, backendName: 'wasm', kernelFunc: gradSums },
];

export function registerWasmChannelSums(): void {
  for (const cfg of configs) {
    if (tf.getKernel(cfg.kernelName, 'wasm') === undefined) tf.registerKernel(cfg);
  }
}

/** Whether the active backend has the fused reductions. */
export function hasChannelSums(): boolean {
  return tf.getKernel(CHANNEL_MOMENTS, tf.getBackend()) !== undefined;
}
