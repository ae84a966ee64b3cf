/**
 * Ringmaster's transforms against torchvision 0.2x with the PIL backend, on the committed
 * images (fixtures written by test/oracle/transforms_oracle.py). Tolerances are those of
 * torchvision's own tests: colour ops ≤ 2/255 max abs difference, geometric ops mean abs
 * error < 5/255 — most cases here are in fact bit-exact, and the test also bounds how many
 * values may differ at all so that a regression from "exact" to "close" is noticed.
 */
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { evalResizeCrop } from '../../../trainer/data/transforms/eval.js';
import { decodeRgb } from '../../../trainer/data/transforms/decode.js';
import { normalize } from '../../../trainer/data/transforms/normalize.js';
import { erase } from '../../../trainer/data/transforms/random-erasing.js';
import { randomResizedCrop } from '../../../trainer/data/transforms/random-resized-crop.js';
import {
  applyTaOp,
  augmentationSpace,
  TA_WIDE_OPS,
  type TaWideOp,
} from '../../../trainer/data/transforms/trivial-augment-wide.js';
import type { RgbImage } from '../../../trainer/data/transforms/image.js';
import {
  diff,
  IMAGES,
  loadF32,
  loadManifest,
  loadRgb,
  ORACLE,
  type OracleManifest,
} from './helpers.js';

const GEOMETRIC = new Set(['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate']);

describe('transforms vs torchvision (PIL backend) oracle', function () {
  let m: OracleManifest;
  const inputs = new Map<string, RgbImage>();
  before(async () => {
    m = await loadManifest();
    for (const name of ['scene_a.png', 'scene_b.png', 'scene_c.png']) {
      inputs.set(name, await loadRgb(join(IMAGES, name)));
    }
  });

  it('has the 31-bin magnitude tables of torchvision bit for bit', () => {
    const ours = augmentationSpace(31);
    assert.deepEqual(Object.keys(m.taSpace), [...TA_WIDE_OPS]);
    for (const op of TA_WIDE_OPS) {
      const theirs = m.taSpace[op]!;
      assert.equal(ours[op].signed, theirs.signed, op);
      if (theirs.magnitudes === null || theirs.magnitudes.length === 1) {
        assert.equal(ours[op].magnitudes, null, op);
      } else {
        assert.deepEqual(Array.from(ours[op].magnitudes!), theirs.magnitudes, op);
      }
    }
  });

  it('every TrivialAugmentWide op, several magnitudes and both signs', async () => {
    const worst: Record<string, { max: number; mean: number; frac: number }> = {};
    assert.ok(m.ta.length >= 150, 'oracle has the TA cases');
    for (const c of m.ta) {
      const img = inputs.get(c.image)!;
      const expected = await loadRgb(join(ORACLE, c.output));
      const got = applyTaOp(img, c.op as TaWideOp, c.magnitude, c.interpolation ?? 'bilinear');
      assert.equal(got.width, expected.width);
      assert.equal(got.height, expected.height);
      const d = diff(got.data, expected.data);
      const label = `${c.op}(${c.magnitude}) on ${c.image}: max ${d.maxAbs}, mean ${d.meanAbs.toFixed(4)}, differing ${(100 * d.fracDiff).toFixed(2)}%`;
      if (GEOMETRIC.has(c.op)) assert.ok(d.meanAbs < 5, label);
      else assert.ok(d.maxAbs <= 2, label);
      // Exactness guard: at most 1% of values differ at all (most cases differ in none).
      assert.ok(d.fracDiff <= 0.01, label);
      const w = (worst[c.op] ??= { max: 0, mean: 0, frac: 0 });
      w.max = Math.max(w.max, d.maxAbs);
      w.mean = Math.max(w.mean, d.meanAbs);
      w.frac = Math.max(w.frac, d.fracDiff);
    }
    assert.deepEqual(Object.keys(worst).sort(), [...TA_WIDE_OPS].sort(), 'all 14 ops covered');
  });

  it('RandomResizedCrop with fixed parameters (bilinear, bicubic, nearest; down and up)', async () => {
    for (const c of m.rrc) {
      const img = inputs.get(c.image)!;
      const expected = await loadRgb(join(ORACLE, c.output));
      const got = randomResizedCrop(img, c.box, c.size, c.interpolation);
      const d = diff(got.data, expected.data);
      const label = `rrc ${JSON.stringify(c.box)} → ${c.size} ${c.interpolation}: max ${d.maxAbs}, mean ${d.meanAbs.toFixed(4)}`;
      assert.ok(d.meanAbs < 5, label);
      // Our resampler is PIL's, so beyond the tolerance it should be (nearly) exact.
      assert.ok(d.maxAbs <= 1 && d.fracDiff <= 0.001, label);
    }
  });

  it('eval Resize + CenterCrop, and its normalized tensor', async () => {
    for (const c of m.eval) {
      const img = c.image.endsWith('.jpg')
        ? await decodeRgb(await readFile(join(IMAGES, c.image)))
        : inputs.get(c.image)!;
      const expected = await loadRgb(join(ORACLE, c.output));
      const got = evalResizeCrop(img, c.resizeSize, c.cropSize, 'bilinear');
      assert.equal(got.width, c.cropSize);
      const d = diff(got.data, expected.data);
      const label = `eval ${c.image} ${c.resizeSize}/${c.cropSize}: max ${d.maxAbs}, mean ${d.meanAbs.toFixed(4)}`;
      assert.ok(d.meanAbs < 5, label);
      // JPEGs too: libjpeg-turbo (TurboJPEG or libvips' build) decodes them as PIL does.
      assert.ok(d.maxAbs <= 1 && d.fracDiff <= 0.001, label);
      if (c.tensor) {
        const t = await loadF32(join(ORACLE, c.tensor));
        const td = diff(normalize(got), t);
        assert.ok(td.maxAbs < 1e-5, `${label}; tensor max ${td.maxAbs}`);
      }
    }
  });

  it('ToTensor + Normalize and RandomErasing with fixed boxes', async () => {
    const img = inputs.get('scene_b.png')!;
    const expected = await loadF32(join(ORACLE, m.normalized));
    const t = normalize(img);
    assert.ok(diff(t, expected).maxAbs < 1e-6);
    for (const c of m.erase) {
      const e = t.slice();
      erase(e, img.height, img.width, 3, c.box, 0);
      const want = await loadF32(join(ORACLE, c.tensor));
      assert.ok(diff(e, want).maxAbs < 1e-6, JSON.stringify(c.box));
    }
  });
});
