/**
 * Pillow's resize with the two passes in WebAssembly SIMD (resample.wat): the same
 * coefficients, the same integer arithmetic and pass order as resample.ts's JavaScript, so the
 * same bytes (a test holds them equal), four to eight times faster. Returns null when
 * WebAssembly SIMD is unavailable or the image is too narrow for 16-byte blocks; the caller
 * then uses the JavaScript passes.
 */
import { hflip } from './flip.js';
import type { RgbImage } from './image.js';
import { precomputeCoeffs, type Coeffs, type Interpolation } from './resample-coeffs.js';
import { passesOf, type CropBox } from './resample.js';
import { RESAMPLE_WASM_BASE64 } from './resample-wasm.js';

interface Kernel {
  memory: WebAssembly.Memory;
  vpass: (
    src: number,
    stride: number,
    dst: number,
    rowW: number,
    outH: number,
    rows: number,
    w: number,
    ksize: number,
  ) => void;
  normalize: (src: number, dst: number, n: number, consts: number) => void;
  affine: (src: number, dst: number, W: number, H: number, m: number, fill: number) => void;
  lut3: (src: number, dst: number, n: number, lut: number) => void;
  hpass: (
    src: number,
    stride: number,
    rows: number,
    dst: number,
    outW: number,
    starts: number,
    counts: number,
    w: number,
    ksize: number,
  ) => void;
}

let kernel: Kernel | null | undefined;

function load(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const mod = new WebAssembly.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64'));
    const inst = new WebAssembly.Instance(mod, {});
    kernel = inst.exports as unknown as Kernel;
  } catch {
    kernel = null;
  }
  return kernel;
}

/** Bump allocation in the module's memory for one call; 16-byte aligned, with slack. */
class Arena {
  private top = 0;
  private readonly sizes: number[] = [];
  reserve(bytes: number): number {
    const at = this.top;
    this.top = (this.top + bytes + 16 + 15) & ~15;
    this.sizes.push(bytes);
    return at;
  }
  ensure(k: Kernel): void {
    const need = this.top - k.memory.buffer.byteLength;
    if (need > 0) k.memory.grow(Math.ceil(need / 65536));
  }
}

function rowTable(c: Coeffs, outH: number, stride: number, rowShift: number): Int32Array {
  const t = new Int32Array(outH * 2);
  for (let y = 0; y < outH; y++) {
    t[y * 2] = (c.bounds[y * 2]! + rowShift) * stride;
    t[y * 2 + 1] = c.bounds[y * 2 + 1]!;
  }
  return t;
}

export function resizeSimd(
  img: RgbImage,
  outWidth: number,
  outHeight: number,
  interpolation: Exclude<Interpolation, 'nearest'>,
  box: CropBox,
  flip: boolean,
): RgbImage | null {
  const k = load();
  if (!k || box.width < 6 || outWidth < 6) return null;
  const { x0, x1, y0, y1, needH, needV } = passesOf(box, outWidth, outHeight);
  if (!needH && !needV) return null;
  const hor = needH ? precomputeCoeffs(box.width, outWidth, interpolation, x0, x1) : null;
  const vert = needV ? precomputeCoeffs(box.height, outHeight, interpolation, y0, y1) : null;
  const horizontalFirst = !(outWidth >= box.width && outHeight < box.height);

  // Which source rows are read: all of the crop, or (horizontal first) only the vertical taps'.
  let yFirst = 0;
  let yLast = box.height;
  if (horizontalFirst && hor && vert) {
    yFirst = vert.bounds[0]!;
    yLast = vert.bounds[outHeight * 2 - 2]! + vert.bounds[outHeight * 2 - 1]!;
  }
  const srcStride = box.width * 3;
  const srcRows = yLast - yFirst;

  const arena = new Arena();
  const srcAt = arena.reserve(srcRows * srcStride);
  const tmpBytes = horizontalFirst ? srcRows * outWidth * 3 : outHeight * box.width * 3;
  const tmpAt = hor && vert ? arena.reserve(tmpBytes) : 0;
  const dstAt = arena.reserve(outHeight * outWidth * 3);
  const vRowsAt = vert ? arena.reserve(outHeight * 8) : 0;
  const vWAt = vert ? arena.reserve(vert.kk.length * 4) : 0;
  const hStartsAt = hor ? arena.reserve(outWidth * 4) : 0;
  const hCountsAt = hor ? arena.reserve(outWidth * 4) : 0;
  const hWAt = hor ? arena.reserve(hor.kk.length * 4) : 0;
  arena.ensure(k);
  const buf = k.memory.buffer;
  const mem = new Uint8Array(buf);

  // The crop's rows, packed.
  const imgStride = img.width * 3;
  for (let y = 0; y < srcRows; y++) {
    const from = (box.top + yFirst + y) * imgStride + box.left * 3;
    mem.set(img.data.subarray(from, from + srcStride), srcAt + y * srcStride);
  }
  if (hor) {
    const starts = new Int32Array(buf, hStartsAt, outWidth);
    const counts = new Int32Array(buf, hCountsAt, outWidth);
    const w = new Int32Array(buf, hWAt, hor.kk.length);
    const ks = hor.ksize;
    for (let j = 0; j < outWidth; j++) {
      // With flip, output position j takes the coefficients of the mirrored pixel.
      const xx = flip ? outWidth - 1 - j : j;
      starts[j] = hor.bounds[xx * 2]! * 3;
      counts[j] = hor.bounds[xx * 2 + 1]!;
      w.set(hor.kk.subarray(xx * ks, xx * ks + ks), j * ks);
    }
  }
  if (vert) new Int32Array(buf, vWAt, vert.kk.length).set(vert.kk);

  if (horizontalFirst) {
    if (hor && vert) {
      k.hpass(srcAt, srcStride, srcRows, tmpAt, outWidth, hStartsAt, hCountsAt, hWAt, hor.ksize);
      new Int32Array(buf, vRowsAt, outHeight * 2).set(
        rowTable(vert, outHeight, outWidth * 3, -yFirst),
      );
      k.vpass(tmpAt, outWidth * 3, dstAt, outWidth * 3, outHeight, vRowsAt, vWAt, vert.ksize);
    } else if (hor) {
      k.hpass(srcAt, srcStride, srcRows, dstAt, outWidth, hStartsAt, hCountsAt, hWAt, hor.ksize);
    } else {
      new Int32Array(buf, vRowsAt, outHeight * 2).set(rowTable(vert!, outHeight, srcStride, 0));
      k.vpass(srcAt, srcStride, dstAt, srcStride, outHeight, vRowsAt, vWAt, vert!.ksize);
    }
  } else {
    new Int32Array(buf, vRowsAt, outHeight * 2).set(rowTable(vert!, outHeight, srcStride, 0));
    const vOut = hor ? tmpAt : dstAt;
    k.vpass(srcAt, srcStride, vOut, srcStride, outHeight, vRowsAt, vWAt, vert!.ksize);
    if (hor) {
      k.hpass(tmpAt, srcStride, outHeight, dstAt, outWidth, hStartsAt, hCountsAt, hWAt, hor.ksize);
    }
  }
  const data = new Uint8Array(k.memory.buffer, dstAt, outHeight * outWidth * 3).slice();
  const out: RgbImage = { data, width: outWidth, height: outHeight, channels: 3 };
  // A vertical-only resize has no horizontal pass to fold the flip into.
  return flip && !hor ? hflip(out) : out;
}

/**
 * ToTensor + Normalize in SIMD, bit-identical to the float32 steps of normalize.ts (division
 * and subtraction are correctly rounded in both). Null without WebAssembly SIMD.
 */
export function normalizeSimd(
  img: RgbImage,
  mean: readonly [number, number, number],
  std: readonly [number, number, number],
): Float32Array | null {
  const k = load();
  if (!k) return null;
  const n = img.data.length;
  const body = n - (n % 12);
  const arena = new Arena();
  const srcAt = arena.reserve(n);
  const dstAt = arena.reserve(n * 4);
  const constAt = arena.reserve(96);
  arena.ensure(k);
  const buf = k.memory.buffer;
  new Uint8Array(buf).set(img.data, srcAt);
  const consts = new Float32Array(buf, constAt, 24);
  for (let lane = 0; lane < 12; lane++) {
    const c = lane % 3;
    consts[lane] = mean[c]!;
    consts[12 + lane] = std[c]!;
  }
  k.normalize(srcAt, dstAt, body, constAt);
  const out = new Float32Array(n);
  out.set(new Float32Array(buf, dstAt, body));
  for (let i = body; i < n; i++) {
    const c = i % 3;
    const f32 = Math.fround;
    out[i] = f32(f32(f32(img.data[i]! / 255) - f32(mean[c]!)) / f32(std[c]!));
  }
  return out;
}

/** affine.ts's bilinear `affineTransform` in WebAssembly (same double arithmetic). */
export function affineWasm(
  img: RgbImage,
  m: readonly [number, number, number, number, number, number],
  fill: readonly [number, number, number],
): RgbImage | null {
  const k = load();
  if (!k) return null;
  const n = img.data.length;
  const arena = new Arena();
  const mAt = arena.reserve(48);
  const srcAt = arena.reserve(n);
  const dstAt = arena.reserve(n);
  arena.ensure(k);
  const buf = k.memory.buffer;
  new Float64Array(buf, mAt, 6).set(m);
  new Uint8Array(buf).set(img.data, srcAt);
  k.affine(srcAt, dstAt, img.width, img.height, mAt, fill[0] | (fill[1] << 8) | (fill[2] << 16));
  const data = new Uint8Array(buf, dstAt, n).slice();
  return { data, width: img.width, height: img.height, channels: 3 };
}

/** Per-channel lookup tables over an RGB image, in WebAssembly. */
export function lut3Wasm(
  img: RgbImage,
  l0: Uint8Array,
  l1: Uint8Array,
  l2: Uint8Array,
): RgbImage | null {
  const k = load();
  if (!k) return null;
  const n = img.data.length;
  const arena = new Arena();
  const lutAt = arena.reserve(768);
  const srcAt = arena.reserve(n);
  const dstAt = arena.reserve(n);
  arena.ensure(k);
  const mem = new Uint8Array(k.memory.buffer);
  mem.set(l0, lutAt);
  mem.set(l1, lutAt + 256);
  mem.set(l2, lutAt + 512);
  mem.set(img.data, srcAt);
  k.lut3(srcAt, dstAt, n, lutAt);
  const data = mem.slice(dstAt, dstAt + n);
  return { data, width: img.width, height: img.height, channels: 3 };
}
