/**
 * The WebAssembly SIMD passes against the JavaScript ones (which the oracle pins to Pillow):
 * same bytes for any size, crop, direction and flip; and the committed module matches its
 * source when wabt is installed.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Rng } from '../../../trainer/rng.js';
import { resize, resizeJs } from '../../../trainer/data/transforms/resample.js';
import { resizeSimd } from '../../../trainer/data/transforms/resample-simd.js';
import { hflip } from '../../../trainer/data/transforms/flip.js';
import {
  affineTransform,
  affineTransformJs,
  rotateMatrix,
  inverseAffineMatrix,
} from '../../../trainer/data/transforms/affine.js';
import { normalize, normalizeJs } from '../../../trainer/data/transforms/normalize.js';
import { posterize, equalize, applyLutJs } from '../../../trainer/data/transforms/color.js';

const here = dirname(fileURLToPath(import.meta.url));

function noiseImage(w: number, h: number, seed: number) {
  const rng = new Rng(seed);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.randint(0, 256);
  return { data, width: w, height: h, channels: 3 as const };
}

describe('resampler: WebAssembly SIMD = JavaScript', () => {
  it('same bytes for random sizes, crops, interpolation and flip', function () {
    if (
      !resizeSimd(
        noiseImage(8, 8, 1),
        7,
        7,
        'bilinear',
        { top: 0, left: 0, width: 8, height: 8 },
        false,
      )
    ) {
      this.skip(); // no WebAssembly SIMD in this runtime: resize() uses the JavaScript passes
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 6, max: 120 }),
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 6, max: 90 }),
        fc.integer({ min: 1, max: 90 }),
        fc.boolean(),
        fc.constantFrom('bilinear' as const, 'bicubic' as const),
        fc.integer({ min: 0, max: 1000 }),
        (W, H, outW, outH, flip, interp, seed) => {
          const img = noiseImage(W, H, seed);
          const rng = new Rng(seed, 1);
          const width = rng.randint(6, W + 1);
          const height = rng.randint(1, H + 1);
          const base = {
            left: rng.randint(0, W - width + 1),
            top: rng.randint(0, H - height + 1),
            width,
            height,
          };
          // Half the cases with a fractional sampling window (shrink-on-load's boxes).
          const fx = rng.uniform(0, 0.9);
          const fy = rng.uniform(0, 0.9);
          const box =
            seed % 2 === 0
              ? base
              : {
                  ...base,
                  window: {
                    x0: fx,
                    x1: width - rng.uniform(0, 0.9) * (width > 1 ? 1 : 0),
                    y0: fy * (height > 1 ? 1 : 0),
                    y1: height,
                  },
                };
          const a = resize(img, outW, outH, interp, box, flip);
          const b = resizeJs(img, outW, outH, interp, box, flip);
          assert.deepEqual(a.data, b.data);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('affine (bilinear), lookup tables and normalize: WebAssembly = JavaScript', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: -135, max: 135, noNaN: true }),
        fc.double({ min: -0.99, max: 0.99, noNaN: true }),
        fc.integer({ min: 0, max: 1000 }),
        (W, H, angle, shear, seed) => {
          const img = noiseImage(W, H, seed);
          for (const m of [
            rotateMatrix(W, H, angle),
            inverseAffineMatrix([0, 0], 0, [0, 0], 1, [Math.atan(shear) * (180 / Math.PI), 0]),
            inverseAffineMatrix([W / 2, H / 2], angle, [3, -2], 1, [0, 10]),
          ]) {
            const fill = [seed % 256, 7, 200] as const;
            assert.deepEqual(
              affineTransform(img, m, 'bilinear', fill).data,
              affineTransformJs(img, m, 'bilinear', fill).data,
            );
          }
          assert.deepEqual(
            posterize(img, 3).data,
            applyLutJs(
              img,
              new Uint8Array(256).map((_, i) => i & 0xe0),
            ).data,
          );
          assert.ok(equalize(img).data.length === img.data.length);
          assert.deepEqual(normalize(img), normalizeJs(img));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('flip folded into the pass = hflip afterwards', () => {
    const img = noiseImage(60, 40, 3);
    const box = { top: 3, left: 5, width: 50, height: 30 };
    assert.deepEqual(
      resize(img, 33, 21, 'bilinear', box, true).data,
      hflip(resize(img, 33, 21, 'bilinear', box)).data,
    );
    assert.deepEqual(
      resizeJs(img, 33, 21, 'bilinear', box, true).data,
      hflip(resizeJs(img, 33, 21, 'bilinear', box)).data,
    );
  });

  it('the committed module is resample.wat compiled (when wabt is installed)', async function () {
    let build: typeof import('../../../trainer/data/transforms/build-wasm.js');
    try {
      build = await import('../../../trainer/data/transforms/build-wasm.js');
      await import('wabt');
    } catch {
      this.skip();
      return;
    }
    const bytes = await build.compileResampleWat();
    const committed = readFileSync(
      join(here, '../../../trainer/data/transforms/resample-wasm.ts'),
      'utf8',
    );
    assert.equal(
      committed,
      build.renderModule(bytes),
      'run build-wasm.ts after editing resample.wat',
    );
  });
});
