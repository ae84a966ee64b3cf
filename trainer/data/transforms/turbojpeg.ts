/**
 * JPEG decoding through libjpeg-turbo's TurboJPEG API (the system's libturbojpeg.so.0,
 * Debian package libturbojpeg0), called synchronously through the koffi FFI.
 *
 * Why not sharp here: a sharp call costs about a millisecond of CPU beyond the decode
 * itself (libvips pipeline set-up, a hop to the libuv pool), more than everything else the
 * train transform does; a direct call costs microseconds. It is also the decoder PIL uses
 * (libjpeg-turbo, accurate integer IDCT, fancy upsampling), so the decoded pixels are the
 * ones torchvision sees. DCT-domain downscaling ("shrink on load") by 1/2, 1/4, 1/8 comes
 * with it. When the library or koffi is missing, `turboJpeg()` returns null and callers
 * fall back to sharp.
 */
import { createRequire } from 'node:module';
import { ProcessEnv } from '../../../api/names.js';
import type { RgbImage } from './image.js';

export interface TurboJpeg {
  /** Width, height of the JPEG, or null if it is not a JPEG TurboJPEG can read. */
  header(buf: Uint8Array): { width: number; height: number } | null;
  /**
   * Decode at scale 1/`denom` (1, 2, 4 or 8) into RGB; dimensions are ceil(W/denom). With
   * `scratch`, the pixels land in a buffer reused by the next scratch decode on this thread
   * (no fresh half-megabyte allocation per image): use them before anything else decodes.
   */
  decode(buf: Uint8Array, denom?: 1 | 2 | 4 | 8, scratch?: boolean): RgbImage;
}

const TJPF_RGB = 0;
const TJFLAG_ACCURATEDCT = 4096;

let cached: TurboJpeg | null | undefined;
let scratchBuf = new Uint8Array(0);

export function turboJpeg(): TurboJpeg | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as typeof import('koffi');
    const lib = koffi.load(process.env[ProcessEnv.turbojpeg] ?? 'libturbojpeg.so.0');
    const init = lib.func('void* tjInitDecompress()');
    const header3 = lib.func(
      'int tjDecompressHeader3(void* h, const uint8_t* buf, unsigned long size, _Out_ int* w, _Out_ int* hh, _Out_ int* sub, _Out_ int* cs)',
    );
    const decompress2 = lib.func(
      'int tjDecompress2(void* h, const uint8_t* buf, unsigned long size, _Out_ uint8_t* dst, int width, int pitch, int height, int pf, int flags)',
    );
    const errorStr = lib.func('const char* tjGetErrorStr2(void* h)');
    const handle = init() as unknown;
    if (!handle) return null;
    const w = [0];
    const h = [0];
    const sub = [0];
    const cs = [0];
    const readHeader = (buf: Uint8Array) => {
      if (header3(handle, buf, buf.length, w, h, sub, cs) !== 0) return null;
      return { width: w[0]!, height: h[0]! };
    };
    cached = {
      header: readHeader,
      decode(buf, denom = 1, scratch = false) {
        const hd = readHeader(buf);
        if (!hd) throw new Error(`not a JPEG TurboJPEG can read: ${String(errorStr(handle))}`);
        const width = Math.ceil(hd.width / denom);
        const height = Math.ceil(hd.height / denom);
        const bytes = width * height * 3;
        let data: Uint8Array;
        if (scratch) {
          if (scratchBuf.length < bytes) scratchBuf = new Uint8Array(Math.ceil(bytes * 1.25));
          data = scratchBuf.subarray(0, bytes);
        } else {
          data = new Uint8Array(bytes);
        }
        const rc = decompress2(
          handle,
          buf,
          buf.length,
          data,
          width,
          0,
          height,
          TJPF_RGB,
          TJFLAG_ACCURATEDCT,
        );
        // rc -1 with a warning (e.g. a truncated but usable file) still fills the buffer;
        // PIL raises on truncated files unless told otherwise, so we do too.
        if (rc !== 0) throw new Error(`JPEG decode failed: ${String(errorStr(handle))}`);
        return { data, width, height, channels: 3 };
      },
    };
  } catch {
    cached = null;
  }
  return cached;
}
