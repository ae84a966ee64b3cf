/**
 * Backward convolutions for the wasm backend, composed from its XNNPACK-backed forward conv,
 * matmul and data-movement kernels (docs/adr/0021). tfjs-backend-wasm has no
 * Conv2DBackpropFilter, and its Conv2DBackpropInput is a scalar loop (≈ 3 GFLOP/s).
 *
 * Shapes are NHWC activations and HWIO filters throughout.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { WasmOps, type WasmBackendLike } from './wasm_ops.js';

interface BackpropAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfoOf(
  xShape: number[],
  filterShape: number[],
  attrs: BackpropAttrs,
): backend_util.Conv2DInfo {
  if (attrs.dataFormat === 'NCHW') throw new Error('wasm training kernels support NHWC only');
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/**
 * dW[a,b,i,o] = Σ_{n,y,x} xpad[n, y·s + a, x·s + b, i] · dy[n, y, x, o]: a forward conv of x
 * with batch and channel axes swapped ([Ci,H,W,N]) by dy as the filter ([Ho,Wo,N,Co]) at
 * dilation = stride, cropped to the filter size. 1×1 unpadded filters are one matmul.
 */
export function conv2dBackpropFilter(
  ops: WasmOps,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: number[],
  attrs: BackpropAttrs,
): TensorInfo {
  const info = convInfoOf(x.shape, filterShape, attrs);
  const [n, h, w, ci] = x.shape as [number, number, number, number];
  const { outHeight: ho, outWidth: wo, outChannels: co, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { top, bottom, left, right } = info.padInfo;

  if (kh === 1 && kw === 1 && top === 0 && left === 0) {
    const strided =
      sh === 1 && sw === 1 && ho === h && wo === w
        ? null
        : ops.stridedSlice(
            x,
            [0, 0, 0, 0],
            [n, (ho - 1) * sh + 1, (wo - 1) * sw + 1, ci],
            [1, sh, sw, 1],
          );
    const m = n * ho * wo;
    const x2 = ops.reshape(strided ?? x, [m, ci]);
    const xt = ops.transpose(x2, [1, 0]);
    const a = ops.reshape(xt, [1, ci, m]);
    const b = ops.reshape(dy, [1, m, co]);
    const prod = ops.matMul(a, b);
    const out = ops.reshape(prod, [1, 1, ci, co]);
    ops.free(x2, xt, a, b, prod);
    if (strided !== null) ops.free(strided);
    return out;
  }

  const xt = ops.transpose(x, [3, 1, 2, 0]);
  const dyt = ops.transpose(dy, [1, 2, 0, 3]);
  const full = ops.conv2d(
    xt,
    dyt,
    [
      [top, bottom],
      [left, right],
    ],
    [sh, sw],
  );
  ops.free(xt, dyt);
  const [, oh, ow] = full.shape as [number, number, number, number];
  let cropped = full;
  if (oh !== kh || ow !== kw) {
    cropped = ops.slice(full, [0, 0, 0, 0], [ci, kh, kw, co]);
    ops.free(full);
  }
  const out = ops.transpose(cropped, [1, 2, 0, 3]);
  ops.free(cropped);
  return out;
}

/**
 * Puts `s-1` zeros after every row / column of an NHWC tensor: [N,H,W,C] → [N,H·sh,W·sw,C].
 * Done as two 4-D pads so that no kernel sees a rank above 4.
 */
function zeroInsert(ops: WasmOps, t: TensorInfo, sh: number, sw: number): TensorInfo {
  const [n, h, w, c] = t.shape as [number, number, number, number];
  let cur = t;
  const owned: TensorInfo[] = [];
  if (sw > 1) {
    const r = ops.reshape(cur, [n * h, w, 1, c]);
    const p = ops.pad(r, [
      [0, 0],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    owned.push(r, p);
    cur = p;
  }
  if (sh > 1) {
    const r = ops.reshape(cur, [n, h, 1, w * sw * c]);
    const p = ops.pad(r, [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
    ]);
    owned.push(r, p);
    cur = p;
  }
  const out = ops.reshape(cur, [n, h * sh, w * sw, c]);
  ops.free(...owned);
  return out;
}

/** Crops or zero-pads the bottom / right of an NHWC tensor to height h and width w. */
function fitBottomRight(ops: WasmOps, t: TensorInfo, h: number, w: number): TensorInfo {
  const [n, th, tw, c] = t.shape as [number, number, number, number];
  if (th === h && tw === w) return t;
  let cur = t;
  if (th > h || tw > w) {
    cur = ops.slice(t, [0, 0, 0, 0], [n, Math.min(th, h), Math.min(tw, w), c]);
    ops.free(t);
  }
  const [, ch, cw] = cur.shape as [number, number, number, number];
  if (ch < h || cw < w) {
    const p = ops.pad(cur, [
      [0, 0],
      [0, h - ch],
      [0, w - cw],
      [0, 0],
    ]);
    ops.free(cur);
    cur = p;
  }
  return cur;
}

/**
 * dX: the conv of dy (zero-inserted for stride > 1) with the spatially flipped, in/out-swapped
 * filter. For unpadded 1×1 filters the zeros are inserted after the (cheap) channel mixing
 * instead, which saves s² of the work. Returns null for cases it does not cover (negative
 * effective padding), which then go to the built-in kernel.
 */
export function conv2dBackpropInput(
  ops: WasmOps,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: number[],
  attrs: BackpropAttrs,
): TensorInfo | null {
  const info = convInfoOf(inputShape, filter.shape, attrs);
  const [, h, w] = inputShape as [number, number, number, number];
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const padTop = kh - 1 - top;
  const padLeft = kw - 1 - left;
  if (padTop < 0 || padLeft < 0) return null;

  const flipped = ops.reverse(filter, [0, 1]);
  const wt = ops.transpose(flipped, [0, 1, 3, 2]);
  ops.free(flipped);

  if (kh === 1 && kw === 1 && top === 0 && left === 0) {
    const mixed = ops.conv2d(dy, wt, [
      [0, 0],
      [0, 0],
    ]);
    ops.free(wt);
    if (sh === 1 && sw === 1) return fitBottomRight(ops, mixed, h, w);
    const spread = zeroInsert(ops, mixed, sh, sw);
    ops.free(mixed);
    return fitBottomRight(ops, spread, h, w);
  }

  let src = dy;
  if (sh > 1 || sw > 1) src = zeroInsert(ops, dy, sh, sw);
  // The padded input must be h + kh - 1 tall; trailing inserted zeros count towards it.
  const [, zh, zw] = src.shape as [number, number, number, number];
  let padBottom = h + kh - 1 - padTop - zh;
  let padRight = w + kw - 1 - padLeft - zw;
  if (padBottom < 0 || padRight < 0) {
    const n = src.shape[0]!;
    const c = src.shape[3]!;
    const cut = ops.slice(
      src,
      [0, 0, 0, 0],
      [n, zh + Math.min(0, padBottom), zw + Math.min(0, padRight), c],
    );
    if (src !== dy) ops.free(src);
    src = cut;
    padBottom = Math.max(0, padBottom);
    padRight = Math.max(0, padRight);
  }
  const out = ops.conv2d(src, wt, [
    [padTop, padBottom],
    [padLeft, padRight],
  ]);
  if (src !== dy) ops.free(src);
  ops.free(wt);
  return out;
}

/**
 * Registers the composed kernels on the wasm backend, replacing its Conv2DBackpropInput
 * (kept as the fallback for shapes the composition does not cover). Idempotent.
 */
export function registerWasmConvBackprop(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc === filterKernel) return;
  const builtinInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined) {
    tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  }
  if (builtinInput !== undefined) tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  fallbackInput = builtinInput?.kernelFunc ?? null;
  tf.registerKernel(filterConfig);
  tf.registerKernel(inputConfig);
}

let fallbackInput: KernelFunc | null = null;

const filterKernel: KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as BackpropAttrs & { filterShape: number[] };
  return conv2dBackpropFilter(
    new WasmOps(backend as unknown as WasmBackendLike),
    x,
    dy,
    a.filterShape,
    a,
  );
};

const inputKernel: KernelFunc = (args) => {
  const { inputs, attrs, backend } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as BackpropAttrs & { inputShape: number[] };
  const out = conv2dBackpropInput(
    new WasmOps(backend as unknown as WasmBackendLike),
    dy,
    filter,
    a.inputShape,
    a,
  );
  if (out !== null) return out;
  if (fallbackInput === null) throw new Error('Conv2DBackpropInput: shape not supported on wasm');
  return fallbackInput(args);
};

const filterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: filterKernel,
};
const inputConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: inputKernel,
};
