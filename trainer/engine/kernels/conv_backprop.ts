/**
 * Backward convolutions for the wasm backend, composed from its XNNPACK-backed forward conv
 * and matmul plus JS data movement on the wasm heap (docs/adr/0021). tfjs-backend-wasm has no
 * Conv2DBackpropFilter, and its Conv2DBackpropInput is a scalar loop (≈ 3 GFLOP/s).
 *
 * Shapes are NHWC activations and HWIO filters throughout.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { copyWindow, stridedWindow, transpose4, zeros, type Shape4 } from './heap.js';
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
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/**
 * dW[a,b,i,o] = Σ_{n,y,x} xpad[n, y·s + a, x·s + b, i] · dy[n, y, x, o]. 1×1 unpadded filters
 * are one matmul of the (strided) input, transposed, by dy; larger ones go through im2col.
 * (A forward conv of x with batch and channel axes swapped, dy as the filter and dilation =
 * stride also computes it, but measured 2× slower on XNNPACK than the matmul.)
 */
export function conv2dBackpropFilter(
  ops: WasmOps,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: number[],
  attrs: BackpropAttrs,
): TensorInfo {
  const info = convInfoOf(x.shape, filterShape, attrs);
  const [n, h, w, ci] = x.shape as Shape4;
  const { outHeight: ho, outWidth: wo, outChannels: co, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;

  if (kh === 1 && kw === 1 && top === 0 && left === 0) {
    // The input pixels the filter sees, as an [M, Ci] matrix (M = N·Ho·Wo), transposed.
    const strided =
      sh === 1 && sw === 1 && ho === h && wo === w ? null : stridedWindow(ops, x, ho, wo, sh, sw);
    const m = n * ho * wo;
    const x2 = ops.reshape(strided ?? x, [1, 1, m, ci]);
    const xt = transpose4(ops, x2, [0, 1, 3, 2]);
    const a = ops.reshape(xt, [1, ci, m]);
    const b = ops.reshape(dy, [1, m, co]);
    const prod = ops.matMul(a, b);
    const out = ops.reshape(prod, [1, 1, ci, co]);
    ops.free(x2, xt, a, b, prod);
    if (strided !== null) ops.free(strided);
    return out;
  }

  return im2colBackpropFilter(ops, x, dy, info);
}

/** Floats per im2col chunk (64 MiB): bounds memory at ImageNet sizes. */
const IM2COL_CHUNK = 16 * 1024 * 1024;

/**
 * dW as matmuls: A = im2col(x)ᵀ [K = kh·kw·Ci, M = N·Ho·Wo] × dy [M, Co] → [K, Co], which is
 * already HWIO. wasm's matmul is fast only with untransposed operands, so A is built
 * transposed directly, from x laid out channel-major ([Ci, N, H, W]) so that each row of A
 * is filled from contiguous runs. Chunked over the batch.
 */
function im2colBackpropFilter(
  ops: WasmOps,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const [n, h, w, ci] = x.shape as Shape4;
  const { outHeight: ho, outWidth: wo, outChannels: co, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const k = kh * kw * ci;
  const perImage = ho * wo;
  const nb = Math.max(1, Math.min(n, Math.floor(IM2COL_CHUNK / (k * perImage))));
  const xc = transpose4(ops, x, [3, 0, 1, 2]);
  let acc: TensorInfo | null = null;
  for (let n0 = 0; n0 < n; n0 += nb) {
    const nc = Math.min(nb, n - n0);
    const mc = nc * perImage;
    const a = zeros(ops, [1, k, mc]);
    const src = ops.view(xc);
    const dst = ops.view(a);
    for (let fa = 0; fa < kh; fa++) {
      for (let fb = 0; fb < kw; fb++) {
        // Output columns whose input column x·sw + fb − left falls inside the image.
        const x0 = Math.max(0, Math.ceil((left - fb) / sw));
        const x1 = Math.min(wo - 1, Math.floor((w - 1 + left - fb) / sw));
        for (let i = 0; i < ci; i++) {
          const row = ((fa * kw + fb) * ci + i) * mc;
          for (let b = 0; b < nc; b++) {
            const img = (i * n + n0 + b) * h;
            for (let y = 0; y < ho; y++) {
              const hy = y * sh + fa - top;
              if (hy < 0 || hy >= h) continue;
              const s0 = (img + hy) * w + fb - left;
              const d0 = row + (b * ho + y) * wo;
              for (let xx = x0; xx <= x1; xx++) dst[d0 + xx] = src[s0 + xx * sw]!;
            }
          }
        }
      }
    }
    let dyc: TensorInfo;
    if (nc === n) {
      dyc = ops.reshape(dy, [1, mc, co]);
    } else {
      dyc = ops.backend.makeOutput([1, mc, co], 'float32');
      const from = n0 * perImage * co;
      ops.view(dyc).set(ops.view(dy).subarray(from, from + mc * co));
    }
    const part = ops.matMul(a, dyc);
    ops.free(a, dyc);
    if (acc === null) {
      acc = part;
    } else {
      const sum = ops.run('Add', { a: acc, b: part });
      ops.free(acc, part);
      acc = sum;
    }
  }
  ops.free(xc);
  const out = ops.reshape(acc!, [kh, kw, ci, co]);
  ops.free(acc!);
  return out;
}

/**
 * dX by phases: for stride s, the input rows h ≡ r (mod s) receive dy only through the filter
 * taps a ≡ r + pad (mod s). Each of the s² phases is a stride-1 conv of dy with that
 * sub-filter (flipped, in/out swapped), written back interleaved. Unlike zero-insertion this
 * does no work on zeros: the cost equals the forward conv's.
 */
export function conv2dBackpropInput(
  ops: WasmOps,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: number[],
  attrs: BackpropAttrs,
): TensorInfo {
  const info = convInfoOf(inputShape, filter.shape, attrs);
  const [n, h, w, ci] = inputShape as Shape4;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { top, left } = info.padInfo;
  const single = sh === 1 && sw === 1;
  const dx = single ? null : zeros(ops, [n, h, w, ci]);

  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const rows = Math.ceil((h - rh) / sh);
      const cols = Math.ceil((w - rw) / sw);
      const a0 = (rh + top) % sh;
      const b0 = (rw + left) % sw;
      const th = a0 < kh ? Math.ceil((kh - a0) / sh) : 0;
      const tw = b0 < kw ? Math.ceil((kw - b0) / sw) : 0;
      if (rows <= 0 || cols <= 0 || th === 0 || tw === 0) continue; // no taps: stays zero
      const padTop = th - 1 - (rh + top - a0) / sh;
      const padLeft = tw - 1 - (rw + left - b0) / sw;
      const padBottom = rows + th - 1 - padTop - ho;
      const padRight = cols + tw - 1 - padLeft - wo;

      // sub[t, u, o, i] = W[a0 + s·(th−1−t), b0 + s·(tw−1−u), i, o]
      const sub = ops.backend.makeOutput([th, tw, co, ci], 'float32');
      const wsrc = ops.view(filter);
      const wdst = ops.view(sub);
      for (let t = 0; t < th; t++) {
        for (let u = 0; u < tw; u++) {
          const a = a0 + sh * (th - 1 - t);
          const b = b0 + sw * (tw - 1 - u);
          const base = (a * kw + b) * ci * co;
          const obase = (t * tw + u) * co * ci;
          for (let i = 0; i < ci; i++) {
            for (let o = 0; o < co; o++) wdst[obase + o * ci + i] = wsrc[base + i * co + o]!;
          }
        }
      }

      let src = dy;
      let pads: [[number, number], [number, number]] = [
        [padTop, padBottom],
        [padLeft, padRight],
      ];
      if (padTop < 0 || padBottom < 0 || padLeft < 0 || padRight < 0) {
        // Negative padding means cropping dy: build the padded/cropped window explicitly.
        const ph = ho + padTop + padBottom;
        const pw = wo + padLeft + padRight;
        src = zeros(ops, [n, ph, pw, co]);
        const r0 = Math.max(0, -padTop);
        const c0 = Math.max(0, -padLeft);
        copyWindow(ops, dy, src, {
          rows: Math.min(ho, ph - Math.max(0, padTop)) - r0 + 0,
          cols: Math.min(wo, pw - Math.max(0, padLeft)) - c0 + 0,
          srcRow: r0,
          srcCol: c0,
          srcRowStep: 1,
          srcColStep: 1,
          dstRow: Math.max(0, padTop),
          dstCol: Math.max(0, padLeft),
          dstRowStep: 1,
          dstColStep: 1,
        });
        pads = [
          [0, 0],
          [0, 0],
        ];
      }
      const part = ops.conv2d(src, sub, pads);
      ops.free(sub);
      if (src !== dy) ops.free(src);
      if (dx === null) return part;
      copyWindow(ops, part, dx, {
        rows,
        cols,
        srcRow: 0,
        srcCol: 0,
        srcRowStep: 1,
        srcColStep: 1,
        dstRow: rh,
        dstCol: rw,
        dstRowStep: sh,
        dstColStep: sw,
      });
      ops.free(part);
    }
  }
  return dx ?? zeros(ops, [n, h, w, ci]);
}

/**
 * Registers the composed kernels on the wasm backend, replacing its Conv2DBackpropInput.
 * Idempotent.
 */
export function registerWasmConvBackprop(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc === filterKernel) return;
  for (const name of ['Conv2DBackpropFilter', 'Conv2DBackpropInput']) {
    if (tf.getKernel(name, 'wasm') !== undefined) tf.unregisterKernel(name, 'wasm');
  }
  tf.registerKernel(filterConfig);
  tf.registerKernel(inputConfig);
}

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

const inputKernel: KernelFunc = ({ inputs, attrs, backend }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as BackpropAttrs & { inputShape: number[] };
  return conv2dBackpropInput(
    new WasmOps(backend as unknown as WasmBackendLike),
    dy,
    filter,
    a.inputShape,
    a,
  );
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
