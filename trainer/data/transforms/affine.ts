/**
 * Geometric ops as torchvision's PIL backend runs them: torchvision builds the inverse
 * affine matrix (output pixel → input position, `_get_inverse_affine_matrix`) and PIL's
 * `Image.transform(AFFINE)` samples the input at a[0..5]·(x + ½, y + ½, 1). With BILINEAR
 * PIL clamps the 2×2 neighbourhood at the borders, truncates (not rounds) the result to
 * 8 bits, and leaves the fill colour wherever the sample point falls outside the image.
 */
import { allocImage, type RgbImage } from './image.js';
import { affineWasm } from './resample-simd.js';

export type AffineMatrix = readonly [number, number, number, number, number, number];
export type AffineInterpolation = 'bilinear' | 'bicubic' | 'nearest';

// As CPython: math.radians multiplies by the constant pi/180.
const DEG_TO_RAD = Math.PI / 180;
const rad = (deg: number) => deg * DEG_TO_RAD;

/**
 * torchvision.transforms.functional._get_inverse_affine_matrix (inverted = true): the
 * matrix PIL wants, for rotation `angle` and shear (sx, sy) in degrees about `center`.
 */
export function inverseAffineMatrix(
  center: readonly [number, number],
  angle: number,
  translate: readonly [number, number],
  scale: number,
  shear: readonly [number, number],
): AffineMatrix {
  const rot = rad(angle);
  const sx = rad(shear[0]);
  const sy = rad(shear[1]);
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((v) => v / scale) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/** Python's round(x, 15), which PIL applies to cos/sin in Image.rotate. */
function round15(x: number): number {
  return Number(x.toFixed(15));
}

/** PIL's Image.rotate(angle) matrix (no expand, default centre, no translate). */
export function rotateMatrix(width: number, height: number, angle: number): AffineMatrix {
  const cx = width / 2;
  const cy = height / 2;
  const t = -rad(angle);
  const m: [number, number, number, number, number, number] = [
    round15(Math.cos(t)),
    round15(Math.sin(t)),
    0,
    round15(-Math.sin(t)),
    round15(Math.cos(t)),
    0,
  ];
  m[2] = m[0] * -cx + m[1] * -cy + cx;
  m[5] = m[3] * -cx + m[4] * -cy + cy;
  return m;
}

/** PIL's Image.transform(size, AFFINE, matrix, resample, fillcolor=fill), same output size. */
export function affineTransform(
  img: RgbImage,
  m: AffineMatrix,
  interpolation: AffineInterpolation,
  fill: readonly [number, number, number] = [0, 0, 0],
): RgbImage {
  const [a0, a1, a2, a3, a4, a5] = m;
  // An integer translation samples pixel centres exactly: a shifted copy, same numbers.
  if (
    a0 === 1 &&
    a1 === 0 &&
    a3 === 0 &&
    a4 === 1 &&
    Number.isInteger(a2) &&
    Number.isInteger(a5)
  ) {
    return shiftCopy(img, -a2, -a5, fill);
  }
  if (interpolation === 'bilinear') {
    const fast = affineWasm(img, m, fill);
    if (fast) return fast;
  }
  return affineTransformJs(img, m, interpolation, fill);
}

/** The JavaScript version (no WebAssembly; the reference in tests). */
export function affineTransformJs(
  img: RgbImage,
  m: AffineMatrix,
  interpolation: AffineInterpolation,
  fill: readonly [number, number, number] = [0, 0, 0],
): RgbImage {
  const { width: W, height: H } = img;
  const [a0, a1, a2, a3, a4, a5] = m;
  const src = img.data;
  const out = allocImage(W, H);
  const dst = out.data;
  const stride = W * 3;
  const [f0, f1, f2] = fill;
  if (interpolation === 'bicubic') return affineBicubic(img, m, fill);
  const nearest = interpolation === 'nearest';
  let o = 0;
  for (let y = 0; y < H; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < W; x++, o += 3) {
      const xc = x + 0.5;
      // Same expression order as Geometry.c's affine_transform: a0·x + a1·y + a2.
      let xin = a0 * xc + a1 * yc + a2;
      let yin = a3 * xc + a4 * yc + a5;
      if (!(xin >= 0 && xin < W && yin >= 0 && yin < H)) {
        dst[o] = f0;
        dst[o + 1] = f1;
        dst[o + 2] = f2;
        continue;
      }
      if (nearest) {
        const p = (yin | 0) * stride + (xin | 0) * 3;
        dst[o] = src[p]!;
        dst[o + 1] = src[p + 1]!;
        dst[o + 2] = src[p + 2]!;
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      const xi = xin < 0 ? -1 : xin | 0;
      const yi = yin < 0 ? -1 : yin | 0;
      const dx = xin - xi;
      const dy = yin - yi;
      const x0 = (xi < 0 ? 0 : xi) * 3;
      const x1 = (xi + 1 < W ? xi + 1 : W - 1) * 3;
      const r0 = (yi < 0 ? 0 : yi) * stride;
      const hasY1 = yi + 1 < H;
      const r1 = hasY1 ? (yi + 1) * stride : r0;
      const p00 = r0 + x0;
      const p01 = r0 + x1;
      const p10 = r1 + x0;
      const p11 = r1 + x1;
      // PIL: v1 = row y lerp, v2 = row y+1 lerp (or v1 past the last row), then lerp in y.
      let a = src[p00]!;
      let v1 = a + (src[p01]! - a) * dx;
      let b = src[p10]!;
      let v2 = hasY1 ? b + (src[p11]! - b) * dx : v1;
      dst[o] = v1 + (v2 - v1) * dy;
      a = src[p00 + 1]!;
      v1 = a + (src[p01 + 1]! - a) * dx;
      b = src[p10 + 1]!;
      v2 = hasY1 ? b + (src[p11 + 1]! - b) * dx : v1;
      dst[o + 1] = v1 + (v2 - v1) * dy;
      a = src[p00 + 2]!;
      v1 = a + (src[p01 + 2]! - a) * dx;
      b = src[p10 + 2]!;
      v2 = hasY1 ? b + (src[p11 + 2]! - b) * dx : v1;
      dst[o + 2] = v1 + (v2 - v1) * dy;
    }
  }
  return out;
}

/** out(x, y) = in(x − dx, y − dy), fill outside. */
function shiftCopy(
  img: RgbImage,
  dx: number,
  dy: number,
  fill: readonly [number, number, number],
): RgbImage {
  const { width: W, height: H, data: src } = img;
  const out = allocImage(W, H);
  const dst = out.data;
  if (fill[0] !== 0 || fill[1] !== 0 || fill[2] !== 0) {
    for (let i = 0; i < dst.length; i += 3) {
      dst[i] = fill[0];
      dst[i + 1] = fill[1];
      dst[i + 2] = fill[2];
    }
  }
  const xFrom = Math.max(0, dx);
  const xTo = Math.min(W, W + dx);
  if (xTo <= xFrom) return out;
  for (let y = Math.max(0, dy); y < Math.min(H, H + dy); y++) {
    const s = ((y - dy) * W + (xFrom - dx)) * 3;
    dst.set(src.subarray(s, s + (xTo - xFrom) * 3), (y * W + xFrom) * 3);
  }
  return out;
}

/** Geometry.c's BICUBIC: the cubic through four samples at fraction d (a = −0.5 kernel). */
function cubic(v1: number, v2: number, v3: number, v4: number, d: number): number {
  const p1 = v2;
  const p2 = -v1 + v3;
  const p3 = 2 * (v1 - v2) + v3 - v4;
  const p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

/**
 * PIL's AFFINE transform with BICUBIC (bicubic_filter32RGB): a 4×4 neighbourhood, columns
 * clamped to the image, rows beyond the last one replaced by the row before, then clamped to
 * 0..255 and truncated.
 */
function affineBicubic(
  img: RgbImage,
  m: AffineMatrix,
  fill: readonly [number, number, number],
): RgbImage {
  const { width: W, height: H, data: src } = img;
  const [a0, a1, a2, a3, a4, a5] = m;
  const out = allocImage(W, H);
  const dst = out.data;
  const stride = W * 3;
  const xs = [0, 0, 0, 0];
  const v = [0, 0, 0, 0];
  let o = 0;
  for (let y = 0; y < H; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < W; x++, o += 3) {
      const xc = x + 0.5;
      let xin = a0 * xc + a1 * yc + a2;
      let yin = a3 * xc + a4 * yc + a5;
      if (!(xin >= 0 && xin < W && yin >= 0 && yin < H)) {
        dst[o] = fill[0];
        dst[o + 1] = fill[1];
        dst[o + 2] = fill[2];
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      let xi = xin < 0 ? Math.floor(xin) : Math.trunc(xin);
      let yi = yin < 0 ? Math.floor(yin) : Math.trunc(yin);
      const dx = xin - xi;
      const dy = yin - yi;
      xi--;
      yi--;
      for (let k = 0; k < 4; k++) {
        const xx = xi + k;
        xs[k] = (xx < 0 ? 0 : xx < W ? xx : W - 1) * 3;
      }
      // Row 0 is clamped into the image; rows 1..3 exist or repeat the previous value.
      const r0 = (yi < 0 ? 0 : yi < H ? yi : H - 1) * stride;
      for (let c = 0; c < 3; c++) {
        let r = r0;
        v[0] = cubic(
          src[r + xs[0]! + c]!,
          src[r + xs[1]! + c]!,
          src[r + xs[2]! + c]!,
          src[r + xs[3]! + c]!,
          dx,
        );
        for (let k = 1; k < 4; k++) {
          const yy = yi + k;
          if (yy >= 0 && yy < H) {
            r = yy * stride;
            v[k] = cubic(
              src[r + xs[0]! + c]!,
              src[r + xs[1]! + c]!,
              src[r + xs[2]! + c]!,
              src[r + xs[3]! + c]!,
              dx,
            );
          } else {
            v[k] = v[k - 1]!;
          }
        }
        const t = cubic(v[0]!, v[1]!, v[2]!, v[3]!, dy);
        dst[o + c] = t <= 0 ? 0 : t >= 255 ? 255 : t;
      }
    }
  }
  return out;
}
