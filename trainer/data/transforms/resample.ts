/**
 * PIL's resize, reproduced on raw RGB buffers (Pillow's libImaging/Resample.c): a separable
 * convolution whose kernel support grows with the downscale factor (that is the
 * "antialias" of torchvision's PIL backend), coefficients normalized per output pixel and
 * quantized to 22-bit fixed point, two passes with an 8-bit intermediate (horizontal first,
 * except, since Pillow 13, when only the height shrinks). Matching these details (rounding of
 * the bounds, the +0.5 centres, the pass order and the 8-bit intermediate) is what makes the
 * output equal PIL's to the last bit.
 *
 * NEAREST follows PIL's affine nearest scaling instead (Resample.c hands it to
 * ImagingScaleAffine): source index floor((x + 0.5)·scale).
 */
import { hflip } from './flip.js';
import { allocImage, type RgbImage } from './image.js';
import {
  HALF,
  PRECISION_BITS,
  precomputeCoeffs,
  type Coeffs,
  type Interpolation,
} from './resample-coeffs.js';
import { resizeSimd } from './resample-simd.js';

export type { Interpolation } from './resample-coeffs.js';

/** A sub-rectangle of the source, in integer pixels (crop before resize, as torchvision does). */
export interface CropBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
  /**
   * Optional fractional sampling window inside the box, in box coordinates (Pillow's float
   * `resize(box=…)`); the filter still clips at the box's edges. Used by shrink-on-load, whose
   * crop edges fall between the pixels of the shrunk decode.
   */
  readonly window?: {
    readonly x0: number;
    readonly x1: number;
    readonly y0: number;
    readonly y1: number;
  };
}

/** The sampling window of a box and whether each pass is needed. */
export function passesOf(box: CropBox, outWidth: number, outHeight: number) {
  const x0 = box.window?.x0 ?? 0;
  const x1 = box.window?.x1 ?? box.width;
  const y0 = box.window?.y0 ?? 0;
  const y1 = box.window?.y1 ?? box.height;
  return {
    x0,
    x1,
    y0,
    y1,
    needH: outWidth !== box.width || x0 !== 0 || x1 !== box.width,
    needV: outHeight !== box.height || y0 !== 0 || y1 !== box.height,
  };
}

const imul = Math.imul;

/**
 * Resize `box` of `img` (the whole image by default) to outWidth × outHeight, as
 * `img.crop(box).resize((outWidth, outHeight), filter)` in PIL; with `flip`, also mirrored
 * left–right afterwards (folded into the horizontal pass's output order, so it is free).
 */
export function resize(
  img: RgbImage,
  outWidth: number,
  outHeight: number,
  interpolation: Interpolation = 'bilinear',
  box: CropBox = { top: 0, left: 0, height: img.height, width: img.width },
  flip = false,
): RgbImage {
  checkBox(img, outWidth, outHeight, box);
  if (interpolation !== 'nearest') {
    const out = resizeSimd(img, outWidth, outHeight, interpolation, box, flip);
    if (out) return out;
  }
  return resizeJs(img, outWidth, outHeight, interpolation, box, flip);
}

function checkBox(img: RgbImage, outWidth: number, outHeight: number, box: CropBox): void {
  if (outWidth < 1 || outHeight < 1) throw new RangeError('resize: empty output size');
  if (
    box.left < 0 ||
    box.top < 0 ||
    box.width < 1 ||
    box.height < 1 ||
    box.left + box.width > img.width ||
    box.top + box.height > img.height
  ) {
    throw new RangeError(`resize: crop box outside the ${img.width}×${img.height} image`);
  }
}

/** The same in plain JavaScript (used where WebAssembly SIMD is unavailable, and as a check). */
export function resizeJs(
  img: RgbImage,
  outWidth: number,
  outHeight: number,
  interpolation: Interpolation = 'bilinear',
  box: CropBox = { top: 0, left: 0, height: img.height, width: img.width },
  flip = false,
): RgbImage {
  if (outWidth < 1 || outHeight < 1) throw new RangeError('resize: empty output size');
  if (
    box.left < 0 ||
    box.top < 0 ||
    box.width < 1 ||
    box.height < 1 ||
    box.left + box.width > img.width ||
    box.top + box.height > img.height
  ) {
    throw new RangeError(`resize: crop box outside the ${img.width}×${img.height} image`);
  }
  if (interpolation === 'nearest') {
    const out = resizeNearest(img, outWidth, outHeight, box);
    return flip ? hflip(out) : out;
  }
  const src = img.data;
  const stride = img.width * 3;
  const { x0, x1, y0, y1, needH, needV } = passesOf(box, outWidth, outHeight);
  if (!needH && !needV) {
    const out = copyBox(img, box);
    return flip ? hflip(out) : out;
  }
  const hor = needH ? precomputeCoeffs(box.width, outWidth, interpolation, x0, x1) : null;
  const vert = needV ? precomputeCoeffs(box.height, outHeight, interpolation, y0, y1) : null;

  // Pillow ≥ 13 runs the vertical pass first when the height shrinks and the width does not
  // (Resample.c `horizontal_first`); the 8-bit intermediate makes the order visible.
  const horizontalFirst = !(outWidth >= box.width && outHeight < box.height);
  let data: Uint8Array;
  if (horizontalFirst) {
    if (hor && vert) {
      // Only the source rows the vertical pass reads go through the horizontal pass.
      const yFirst = vert.bounds[0]!;
      const yLast = vert.bounds[outHeight * 2 - 2]! + vert.bounds[outHeight * 2 - 1]!;
      const tmp = hpass(
        src,
        stride,
        box.left,
        box.top + yFirst,
        yLast - yFirst,
        hor,
        outWidth,
        flip,
      );
      data = vpass(tmp, outWidth * 3, 0, -yFirst, outWidth, vert, outHeight);
    } else if (hor) {
      data = hpass(src, stride, box.left, box.top, box.height, hor, outWidth, flip);
    } else {
      data = vpass(src, stride, box.left, box.top, box.width, vert!, outHeight);
      if (flip) return hflip({ data, width: outWidth, height: outHeight, channels: 3 });
    }
  } else {
    const tmp = vpass(src, stride, box.left, box.top, box.width, vert!, outHeight);
    if (hor) data = hpass(tmp, box.width * 3, 0, 0, outHeight, hor, outWidth, flip);
    else {
      data = tmp;
      if (flip) return hflip({ data, width: outWidth, height: outHeight, channels: 3 });
    }
  }
  return { data, width: outWidth, height: outHeight, channels: 3 };
}

/*
 * The passes below use Math.imul and int32 sums: every partial sum stays below 2^31
 * (255 · 2^22 plus the rounding half), and int32 arithmetic keeps V8 off doubles.
 */

/** Horizontal pass over `rows` rows starting at (x0, y0) of `src`. */
function hpass(
  src: Uint8Array | Uint8ClampedArray,
  stride: number,
  x0: number,
  y0: number,
  rows: number,
  c: Coeffs,
  outWidth: number,
  flip: boolean,
): Uint8Array {
  if (c.padKk && (c.ksize === 3 || c.ksize === 5)) {
    return hpassFixed(src, stride, x0, y0, rows, c.ksize, c.padStart!, c.padKk, outWidth, flip);
  }
  const { ksize, bounds, kk } = c;
  const rowW = outWidth * 3;
  const out = new Uint8Array(rows * rowW);
  for (let yy = 0; yy < rows; yy++) {
    const inRow = (y0 + yy) * stride + x0 * 3;
    const outRow = yy * rowW;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2]!;
      const xmax = bounds[xx * 2 + 1]!;
      const kOff = xx * ksize;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      let p = inRow + xmin * 3;
      for (let x = 0; x < xmax; x++, p += 3) {
        const w = kk[kOff + x]!;
        s0 = (s0 + imul(src[p]!, w)) | 0;
        s1 = (s1 + imul(src[p + 1]!, w)) | 0;
        s2 = (s2 + imul(src[p + 2]!, w)) | 0;
      }
      const o = outRow + (flip ? outWidth - 1 - xx : xx) * 3;
      s0 >>= PRECISION_BITS;
      s1 >>= PRECISION_BITS;
      s2 >>= PRECISION_BITS;
      out[o] = s0 < 0 ? 0 : s0 > 255 ? 255 : s0;
      out[o + 1] = s1 < 0 ? 0 : s1 > 255 ? 255 : s1;
      out[o + 2] = s2 < 0 ? 0 : s2 > 255 ? 255 : s2;
    }
  }
  return out;
}

/** hpass with exactly 3 or 5 taps per output (padded weights): straight-line code. */
function hpassFixed(
  src: Uint8Array | Uint8ClampedArray,
  stride: number,
  x0: number,
  y0: number,
  rows: number,
  ksize: number,
  start: Int32Array,
  kk: Int32Array,
  outWidth: number,
  flip: boolean,
): Uint8Array {
  const rowW = outWidth * 3;
  const out = new Uint8Array(rows * rowW);
  const five = ksize === 5;
  for (let yy = 0; yy < rows; yy++) {
    const inRow = (y0 + yy) * stride + x0 * 3;
    const outRow = yy * rowW;
    for (let xx = 0; xx < outWidth; xx++) {
      const k = xx * ksize;
      const p = inRow + start[xx]! * 3;
      const w0 = kk[k]!;
      const w1 = kk[k + 1]!;
      const w2 = kk[k + 2]!;
      let s0 = (HALF + imul(src[p]!, w0) + imul(src[p + 3]!, w1) + imul(src[p + 6]!, w2)) | 0;
      let s1 = (HALF + imul(src[p + 1]!, w0) + imul(src[p + 4]!, w1) + imul(src[p + 7]!, w2)) | 0;
      let s2 = (HALF + imul(src[p + 2]!, w0) + imul(src[p + 5]!, w1) + imul(src[p + 8]!, w2)) | 0;
      if (five) {
        const w3 = kk[k + 3]!;
        const w4 = kk[k + 4]!;
        s0 = (s0 + imul(src[p + 9]!, w3) + imul(src[p + 12]!, w4)) | 0;
        s1 = (s1 + imul(src[p + 10]!, w3) + imul(src[p + 13]!, w4)) | 0;
        s2 = (s2 + imul(src[p + 11]!, w3) + imul(src[p + 14]!, w4)) | 0;
      }
      const o = outRow + (flip ? outWidth - 1 - xx : xx) * 3;
      s0 >>= PRECISION_BITS;
      s1 >>= PRECISION_BITS;
      s2 >>= PRECISION_BITS;
      out[o] = s0 < 0 ? 0 : s0 > 255 ? 255 : s0;
      out[o + 1] = s1 < 0 ? 0 : s1 > 255 ? 255 : s1;
      out[o + 2] = s2 < 0 ? 0 : s2 > 255 ? 255 : s2;
    }
  }
  return out;
}

/** Vertical pass over `widthPx` columns from x0; source row of tap y is y0 + ymin + y. */
function vpass(
  src: Uint8Array | Uint8ClampedArray,
  stride: number,
  x0: number,
  y0: number,
  widthPx: number,
  c: Coeffs,
  outHeight: number,
): Uint8Array {
  const { ksize, bounds, kk } = c;
  const rowW = widthPx * 3;
  const out = new Uint8Array(outHeight * rowW);
  const acc = new Int32Array(rowW);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]!;
    const ymax = bounds[yy * 2 + 1]!;
    const kOff = yy * ksize;
    const o = yy * rowW;
    const r0 = (y0 + ymin) * stride + x0 * 3;
    // The common tap counts get straight-line code: one read per tap, no accumulator array.
    if (ymax === 2) {
      const w0 = kk[kOff]!;
      const w1 = kk[kOff + 1]!;
      const r1 = r0 + stride;
      for (let x = 0; x < rowW; x++) {
        const s = ((HALF + imul(src[r0 + x]!, w0) + imul(src[r1 + x]!, w1)) | 0) >> PRECISION_BITS;
        out[o + x] = s < 0 ? 0 : s > 255 ? 255 : s;
      }
    } else if (ymax === 3) {
      const w0 = kk[kOff]!;
      const w1 = kk[kOff + 1]!;
      const w2 = kk[kOff + 2]!;
      const r1 = r0 + stride;
      const r2 = r1 + stride;
      for (let x = 0; x < rowW; x++) {
        const s =
          ((HALF + imul(src[r0 + x]!, w0) + imul(src[r1 + x]!, w1) + imul(src[r2 + x]!, w2)) | 0) >>
          PRECISION_BITS;
        out[o + x] = s < 0 ? 0 : s > 255 ? 255 : s;
      }
    } else if (ymax === 4) {
      const w0 = kk[kOff]!;
      const w1 = kk[kOff + 1]!;
      const w2 = kk[kOff + 2]!;
      const w3 = kk[kOff + 3]!;
      const r1 = r0 + stride;
      const r2 = r1 + stride;
      const r3 = r2 + stride;
      for (let x = 0; x < rowW; x++) {
        const s =
          ((HALF +
            imul(src[r0 + x]!, w0) +
            imul(src[r1 + x]!, w1) +
            imul(src[r2 + x]!, w2) +
            imul(src[r3 + x]!, w3)) |
            0) >>
          PRECISION_BITS;
        out[o + x] = s < 0 ? 0 : s > 255 ? 255 : s;
      }
    } else if (ymax === 5) {
      const w0 = kk[kOff]!;
      const w1 = kk[kOff + 1]!;
      const w2 = kk[kOff + 2]!;
      const w3 = kk[kOff + 3]!;
      const w4 = kk[kOff + 4]!;
      const r1 = r0 + stride;
      const r2 = r1 + stride;
      const r3 = r2 + stride;
      const r4 = r3 + stride;
      for (let x = 0; x < rowW; x++) {
        const s =
          ((HALF +
            imul(src[r0 + x]!, w0) +
            imul(src[r1 + x]!, w1) +
            imul(src[r2 + x]!, w2) +
            imul(src[r3 + x]!, w3) +
            imul(src[r4 + x]!, w4)) |
            0) >>
          PRECISION_BITS;
        out[o + x] = s < 0 ? 0 : s > 255 ? 255 : s;
      }
    } else {
      acc.fill(HALF);
      for (let y = 0; y < ymax; y++) {
        const w = kk[kOff + y]!;
        const rowStart = r0 + y * stride;
        for (let x = 0; x < rowW; x++) acc[x] = (acc[x]! + imul(src[rowStart + x]!, w)) | 0;
      }
      for (let x = 0; x < rowW; x++) {
        const s = acc[x]! >> PRECISION_BITS;
        out[o + x] = s < 0 ? 0 : s > 255 ? 255 : s;
      }
    }
  }
  return out;
}

/** A plain crop (PIL's crop copies the rows). */
export function copyBox(img: RgbImage, box: CropBox): RgbImage {
  const out = allocImage(box.width, box.height);
  const stride = img.width * 3;
  for (let y = 0; y < box.height; y++) {
    const from = (box.top + y) * stride + box.left * 3;
    out.data.set(img.data.subarray(from, from + box.width * 3), y * box.width * 3);
  }
  return out;
}

function resizeNearest(img: RgbImage, outW: number, outH: number, box: CropBox): RgbImage {
  const out = allocImage(outW, outH);
  const sx = box.width / outW;
  const sy = box.height / outH;
  const xs = new Int32Array(outW);
  // PIL accumulates the position by repeated addition; so do we, to land on the same pixel.
  let xo = sx * 0.5;
  for (let x = 0; x < outW; x++, xo += sx) xs[x] = Math.min(box.width - 1, Math.floor(xo));
  let yo = sy * 0.5;
  const stride = img.width * 3;
  for (let y = 0; y < outH; y++, yo += sy) {
    const yi = Math.min(box.height - 1, Math.floor(yo));
    const inRow = (box.top + yi) * stride + box.left * 3;
    const o = y * outW * 3;
    for (let x = 0; x < outW; x++) {
      const p = inRow + xs[x]! * 3;
      out.data[o + x * 3] = img.data[p]!;
      out.data[o + x * 3 + 1] = img.data[p + 1]!;
      out.data[o + x * 3 + 2] = img.data[p + 2]!;
    }
  }
  return out;
}
