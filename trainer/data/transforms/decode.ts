/**
 * Decoding with sharp (libvips). Images become 8-bit sRGB with three channels, as
 * torchvision's loader does with `Image.open(f).convert('RGB')`: alpha dropped, grey
 * expanded, no EXIF rotation.
 */
import sharp from 'sharp';
import { InputError } from '../../../common/errors.js';
import type { RgbImage } from './image.js';
import { turboJpeg } from './turbojpeg.js';

/**
 * Decode to RGB: JPEGs through libjpeg-turbo directly (as PIL does; optionally at 1/2, 1/4,
 * 1/8 scale in the DCT domain), anything else, or a JPEG TurboJPEG refuses (CMYK, say),
 * through sharp. `scale` is the denominator actually applied (1 on the sharp path).
 */
export async function decodeImage(
  encoded: Uint8Array,
  denom: 1 | 2 | 4 | 8 = 1,
): Promise<{ image: RgbImage; scale: 1 | 2 | 4 | 8 }> {
  const tj = isJpeg(encoded) ? turboJpeg() : null;
  if (tj) {
    try {
      return { image: tj.decode(encoded, denom), scale: denom };
    } catch {
      // fall through to libvips, which handles more colour spaces
    }
  }
  return { image: await decodeRgbSharp(encoded), scale: 1 };
}

/**
 * TurboJPEG only, synchronously (null when not a JPEG, no library, or it refuses the file).
 * With `scratch`, see TurboJpeg.decode: the pixels are overwritten by the next such call.
 */
export function decodeJpegSync(
  encoded: Uint8Array,
  denom: 1 | 2 | 4 | 8 = 1,
  scratch = false,
): RgbImage | null {
  const tj = isJpeg(encoded) ? turboJpeg() : null;
  if (!tj) return null;
  try {
    return tj.decode(encoded, denom, scratch);
  } catch {
    return null;
  }
}

/** Full-size decode (see decodeImage). */
export async function decodeRgb(encoded: Uint8Array): Promise<RgbImage> {
  return (await decodeImage(encoded, 1)).image;
}

/** Decode any image sharp reads into an RgbImage. */
export async function decodeRgbSharp(encoded: Uint8Array): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(encoded, { failOn: 'error' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels: 3,
    };
  } catch (err) {
    throw new InputError(`cannot decode image: ${(err as Error).message}`, [], { cause: err });
  }
}

/**
 * Width and height from a JPEG's SOF marker or a PNG's IHDR without decoding (microseconds,
 * versus a libvips round trip), so crop parameters can be drawn before the decode. Null
 * when the format is not recognized.
 */
export function peekImageSize(buf: Uint8Array): { width: number; height: number } | null {
  if (buf.length > 24 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47) {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const len = (buf[i + 2]! << 8) | buf[i + 3]!;
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = (buf[i + 5]! << 8) | buf[i + 6]!;
      const width = (buf[i + 7]! << 8) | buf[i + 8]!;
      return { width, height };
    }
    i += 2 + len;
  }
  return null;
}

export function isJpeg(buf: Uint8Array): boolean {
  return buf.length > 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;
}
