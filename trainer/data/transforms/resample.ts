/**
 * PIL's resize, reproduced on raw RGB buffers (Pillow's libImaging/Resample.c): a separable
 * convolution whose kernel support grows with the downscale factor (that is the
 * "antialias" of torchvision's PIL backend), coefficients normalized per output pixel and
 * quantized to 22-bit fixed point, a horizontal pass into an 8-bit intermediate, then a
 * vertical pass. Matching these details (rounding of the bounds, the +0.5 centres, the 8-bit
 * intermediate) is what makes the output equal PIL's to the last bit in almost every pixel.
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

  const vert = precomputeCoeffs(box.height, outHeight, interpolation);
  // Only the rows the vertical pass reads go through the horizontal pass (as PIL does).
  const yFirst = needV ? vert.bounds[0]! : 0;
  const yLast = needV
    ? vert.bounds[outHeight * 2 - 2]! + vert.bounds[outHeight * 2 - 1]!
    : box.height;

  // Horizontal pass: rows yFirst..yLast of the crop → tmp (outWidth wide).
  let tmp: Uint8Array | Uint8ClampedArray;
  let tmpStride: number;
  let tmpRow0: number; // index of crop row yFirst in tmp
  if (needH) {
    const hor = precomputeCoeffs(box.width, outWidth, interpolation);
    const { ksize, bounds, kk } = hor;
    const rows = yLast - yFirst;
    tmp = new Uint8Array(rows * outWidth * 3);
    tmpStride = outWidth * 3;
    tmpRow0 = 0;
    for (let yy = 0; yy < rows; yy++) {
      const inRow = (box.top + yFirst + yy) * stride + box.left * 3;
      const outRow = yy * tmpStride;
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
        tmp[o] = clip8(s0);
        tmp[o + 1] = clip8(s1);
        tmp[o + 2] = clip8(s2);
      }
    }
  } else {
    tmp = src;
    tmpStride = stride;
    tmpRow0 = -1; // read straight from the source crop
  }

  const out = allocImage(outWidth, outHeight);
  const dst = out.data;
  if (!needV) {
    // Only a horizontal pass (or nothing): copy rows.
    for (let y = 0; y < outHeight; y++) {
      const from = tmpRow0 < 0 ? (box.top + y) * stride + box.left * 3 : y * tmpStride;
      dst.set(tmp.subarray(from, from + outWidth * 3), y * outWidth * 3);
    }
    return out;
  }
  const { ksize, bounds, kk } = vert;
  const rowW = outWidth * 3;
  const colOff = tmpRow0 < 0 ? box.left * 3 : 0;
  const acc = new Int32Array(rowW);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]!;
    const ymax = bounds[yy * 2 + 1]!;
    const kOff = yy * ksize;
    acc.fill(HALF);
    for (let y = 0; y < ymax; y++) {
      const w = kk[kOff + y]!;
      const rowStart =
        tmpRow0 < 0 ? (box.top + ymin + y) * tmpStride + colOff : (ymin + y - yFirst) * tmpStride;
      for (let x = 0; x < rowW; x++) acc[x] = acc[x]! + tmp[rowStart + x]! * w;
    }
    const o = yy * rowW;
    for (let x = 0; x < rowW; x++) dst[o + x] = clip8(acc[x]!);
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
