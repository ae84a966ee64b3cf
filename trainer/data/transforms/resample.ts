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
import { allocImage, type RgbImage } from './image.js';

export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';

/** A sub-rectangle of the source, in integer pixels (crop before resize, as torchvision does). */
export interface CropBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  readonly ksize: number;
  /** Per output pixel: first source index (relative to the crop) and tap count. */
  readonly bounds: Int32Array;
  /** outSize × ksize fixed-point weights. */
  readonly kk: Int32Array;
}

const coeffCache = new Map<string, Coeffs>();

function precomputeCoeffs(inSize: number, outSize: number, interpolation: Interpolation): Coeffs {
  const key = `${interpolation}:${inSize}:${outSize}`;
  const cached = coeffCache.get(key);
  if (cached) return cached;
  const filter = interpolation === 'bicubic' ? bicubicFilter : bilinearFilter;
  const baseSupport = interpolation === 'bicubic' ? 2 : 1;
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = baseSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero, as here.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const v = x < xmax && ww !== 0 ? k[x]! / ww : x < xmax ? k[x]! : 0;
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const out = { ksize, bounds, kk };
  if (coeffCache.size > 4096) coeffCache.clear();
  coeffCache.set(key, out);
  return out;
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resize `box` of `img` (the whole image by default) to outWidth × outHeight, as
 * `img.crop(box).resize((outWidth, outHeight), filter)` in PIL.
 */
export function resize(
  img: RgbImage,
  outWidth: number,
  outHeight: number,
  interpolation: Interpolation = 'bilinear',
  box: CropBox = { top: 0, left: 0, height: img.height, width: img.width },
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
  if (interpolation === 'nearest') return resizeNearest(img, outWidth, outHeight, box);
  const src = img.data;
  const stride = img.width * 3;
  const needH = outWidth !== box.width;
  const needV = outHeight !== box.height;
  if (!needH && !needV) return copyBox(img, box);
  const hor = needH ? precomputeCoeffs(box.width, outWidth, interpolation) : null;
  const vert = needV ? precomputeCoeffs(box.height, outHeight, interpolation) : null;

  // Pillow ≥ 13 runs the vertical pass first when the height shrinks and the width does not
  // (Resample.c `horizontal_first`); the 8-bit intermediate makes the order visible.
  const horizontalFirst = !(outWidth >= box.width && outHeight < box.height);
  let data: Uint8Array;
  if (horizontalFirst) {
    if (hor && vert) {
      // Only the source rows the vertical pass reads go through the horizontal pass.
      const yFirst = vert.bounds[0]!;
      const yLast = vert.bounds[outHeight * 2 - 2]! + vert.bounds[outHeight * 2 - 1]!;
      const tmp = hpass(src, stride, box.left, box.top + yFirst, yLast - yFirst, hor, outWidth);
      data = vpass(tmp, outWidth * 3, 0, -yFirst, outWidth, vert, outHeight);
    } else if (hor) {
      data = hpass(src, stride, box.left, box.top, box.height, hor, outWidth);
    } else {
      data = vpass(src, stride, box.left, box.top, box.width, vert!, outHeight);
    }
  } else {
    const tmp = vpass(src, stride, box.left, box.top, box.width, vert!, outHeight);
    data = hor ? hpass(tmp, box.width * 3, 0, 0, outHeight, hor, outWidth) : tmp;
  }
  return { data, width: outWidth, height: outHeight, channels: 3 };
}

/** Horizontal pass over `rows` rows starting at (x0, y0) of `src`. */
function hpass(
  src: Uint8Array | Uint8ClampedArray,
  stride: number,
  x0: number,
  y0: number,
  rows: number,
  c: Coeffs,
  outWidth: number,
): Uint8Array {
  const { ksize, bounds, kk } = c;
  const out = new Uint8Array(rows * outWidth * 3);
  for (let yy = 0; yy < rows; yy++) {
    const inRow = (y0 + yy) * stride + x0 * 3;
    const outRow = yy * outWidth * 3;
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
        s0 += src[p]! * w;
        s1 += src[p + 1]! * w;
        s2 += src[p + 2]! * w;
      }
      const o = outRow + xx * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
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
    acc.fill(HALF);
    for (let y = 0; y < ymax; y++) {
      const w = kk[kOff + y]!;
      const rowStart = (y0 + ymin + y) * stride + x0 * 3;
      for (let x = 0; x < rowW; x++) acc[x] = acc[x]! + src[rowStart + x]! * w;
    }
    const o = yy * rowW;
    for (let x = 0; x < rowW; x++) out[o + x] = clip8(acc[x]!);
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
