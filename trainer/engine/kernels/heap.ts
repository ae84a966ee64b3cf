/**
 * Data movement done in JavaScript directly on the wasm heap. tfjs-backend-wasm's Transpose,
 * Reverse, Slice and StridedSlice run at 5–30 M elements/s on the 4-D shapes the backward
 * convs need (a JS loop does 10× better), so the composed kernels use these instead.
 *
 * Heap views are taken after every allocation: growing wasm memory detaches old views.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { WasmOps } from './wasm_ops.js';

export type Shape4 = [number, number, number, number];

export function zeros(ops: WasmOps, shape: number[]): TensorInfo {
  const out = ops.backend.makeOutput(shape, 'float32');
  ops.view(out).fill(0);
  return out;
}

/** out = transpose(x, perm) for rank-4 float32 x. */
export function transpose4(ops: WasmOps, x: TensorInfo, perm: Shape4): TensorInfo {
  const s = x.shape as Shape4;
  const outShape = perm.map((p) => s[p]!) as Shape4;
  const out = ops.backend.makeOutput(outShape, 'float32');
  const src = ops.view(x);
  const dst = ops.view(out);
  // Strides of the output along each INPUT axis, so the loop walks the input contiguously.
  const outStrides = [
    outShape[1] * outShape[2] * outShape[3],
    outShape[2] * outShape[3],
    outShape[3],
    1,
  ];
  const st = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) st[perm[i]!] = outStrides[i]!;
  const [s0, s1, s2, s3] = st as Shape4;
  const [d0, d1, d2, d3] = s;
  let k = 0;
  for (let a = 0; a < d0; a++) {
    for (let b = 0; b < d1; b++) {
      for (let c = 0; c < d2; c++) {
        let o = a * s0 + b * s1 + c * s2;
        for (let d = 0; d < d3; d++, o += s3) dst[o] = src[k++]!;
      }
    }
  }
  return out;
}

export interface Window {
  /** Rows and columns to copy. */
  rows: number;
  cols: number;
  /** Source start and step. */
  srcRow: number;
  srcCol: number;
  srcRowStep: number;
  srcColStep: number;
  /** Destination start and step. */
  dstRow: number;
  dstCol: number;
  dstRowStep: number;
  dstColStep: number;
}

/**
 * dst[n, dstRow + i·dstRowStep, dstCol + j·dstColStep, :] = src[n, srcRow + i·srcRowStep, …, :]
 * for every batch n and every channel (both NHWC with the same N and C). Covers slicing,
 * strided slicing, zero insertion and padding.
 */
export function copyWindow(ops: WasmOps, src: TensorInfo, dst: TensorInfo, w: Window): void {
  const [n, sh, sw, c] = src.shape as Shape4;
  const [, dh, dw] = dst.shape as Shape4;
  const s = ops.view(src);
  const d = ops.view(dst);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < w.rows; i++) {
      const sr = b * sh + w.srcRow + i * w.srcRowStep;
      const dr = b * dh + w.dstRow + i * w.dstRowStep;
      for (let j = 0; j < w.cols; j++) {
        const so = (sr * sw + w.srcCol + j * w.srcColStep) * c;
        const dO = (dr * dw + w.dstCol + j * w.dstColStep) * c;
        if (c >= 32) d.set(s.subarray(so, so + c), dO);
        else for (let k = 0; k < c; k++) d[dO + k] = s[so + k]!;
      }
    }
  }
}

/** [N,H,W,C] rows/cols at the given start and step → a new [N,rows,cols,C]. */
export function stridedWindow(
  ops: WasmOps,
  x: TensorInfo,
  rows: number,
  cols: number,
  rowStep: number,
  colStep: number,
): TensorInfo {
  const [n, , , c] = x.shape as Shape4;
  const out = ops.backend.makeOutput([n, rows, cols, c], 'float32');
  copyWindow(ops, x, out, {
    rows,
    cols,
    srcRow: 0,
    srcCol: 0,
    srcRowStep: rowStep,
    srcColStep: colStep,
    dstRow: 0,
    dstCol: 0,
    dstRowStep: 1,
    dstColStep: 1,
  });
  return out;
}
