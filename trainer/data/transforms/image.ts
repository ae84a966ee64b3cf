/**
 * The pixel buffer every transform works on: 8-bit RGB, interleaved (HWC), rows packed.
 * It is what PIL holds for an "RGB" image, so each op can be written against PIL's numbers.
 */
export interface RgbImage {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: 3;
}

export function allocImage(width: number, height: number): RgbImage {
  return { data: new Uint8Array(width * height * 3), width, height, channels: 3 };
}

export function rgbImage(
  data: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
): RgbImage {
  if (data.length !== width * height * 3) {
    throw new RangeError(`rgbImage: ${data.length} bytes is not ${width}×${height}×3`);
  }
  return { data, width, height, channels: 3 };
}

/** Python's round(): half to even. torchvision's crop arithmetic uses it. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
