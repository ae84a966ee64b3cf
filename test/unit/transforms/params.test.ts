/**
 * The parameter draws, separated from the ops: properties that hold for every draw
 * (fast-check over image sizes and seeds) and distributions compared with torchvision's own
 * get_params (statistics written by test/oracle/transforms_oracle.py from 20,000 draws).
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { Rng } from '../../../trainer/rng.js';
import { erasingBox, erasingParams } from '../../../trainer/data/transforms/random-erasing.js';
import { rrcParams } from '../../../trainer/data/transforms/random-resized-crop.js';
import { roundHalfEven } from '../../../trainer/data/transforms/image.js';
import {
  augmentationSpace,
  taWideParams,
  TA_WIDE_OPS,
} from '../../../trainer/data/transforms/trivial-augment-wide.js';
import { loadManifest, type OracleManifest } from './helpers.js';

/** |a − b| within k standard errors of the difference of two means of n draws each. */
function closeMeans(a: number, b: number, std: number, n: number, k = 4): boolean {
  return Math.abs(a - b) <= k * std * Math.sqrt(2 / n) + 1e-9;
}

describe('transform parameter draws', () => {
  let m: OracleManifest;
  before(async () => {
    m = await loadManifest();
  });

  it('roundHalfEven is Python round()', () => {
    assert.deepEqual(
      [0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.6, 3].map(roundHalfEven),
      [0, 2, 2, -0, -2, 2, 3, 3],
    );
  });

  it('RandomResizedCrop: every box lies inside the image; accepted boxes obey scale/ratio', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (W, H, seed) => {
          const b = rrcParams(W, H, new Rng(seed));
          assert.ok(b.left >= 0 && b.top >= 0 && b.width > 0 && b.height > 0);
          assert.ok(b.left + b.width <= W && b.top + b.height <= H);
          if (!b.fallback) {
            // w, h are rounded from √(area·r), √(area/r): the area is within scale up to rounding.
            const area = b.width * b.height;
            assert.ok(area <= W * H);
            assert.ok((b.width + 1) * (b.height + 1) >= 0.08 * W * H * 0.999);
          } else {
            // Central crop, ratio clamped into [3/4, 4/3].
            assert.equal(b.top, Math.floor((H - b.height) / 2));
            assert.equal(b.left, Math.floor((W - b.width) / 2));
            const inRatio = W / H;
            if (inRatio < 3 / 4) assert.equal(b.height, roundHalfEven(W / (3 / 4)));
            else if (inRatio > 4 / 3) assert.equal(b.width, roundHalfEven(H * (4 / 3)));
            else assert.deepEqual([b.width, b.height], [W, H]);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('RandomResizedCrop: extreme aspect ratios fall back to the clamped central crop', () => {
    // 1000×10: no ratio in [3/4, 4/3] fits, every try fails.
    const b = rrcParams(1000, 10, new Rng(1));
    assert.deepEqual({ ...b }, { top: 0, left: 493, width: 13, height: 10, fallback: true });
    const c = rrcParams(10, 1000, new Rng(1));
    assert.deepEqual({ ...c }, { top: 493, left: 0, width: 10, height: 13, fallback: true });
  });

  it('RandomResizedCrop: same seed, same box; distribution matches torchvision get_params', () => {
    assert.deepEqual(rrcParams(500, 375, new Rng(7, 1)), rrcParams(500, 375, new Rng(7, 1)));
    for (const s of m.drawStats.rrc) {
      const rng = new Rng(12345, s.width, s.height);
      let sw = 0;
      let sh = 0;
      let sa = 0;
      let full = 0;
      for (let i = 0; i < s.n; i++) {
        const b = rrcParams(s.width, s.height, rng);
        sw += b.width;
        sh += b.height;
        sa += (b.width * b.height) / (s.width * s.height);
        if (b.width === s.width && b.height === s.height) full++;
      }
      const label = `${s.width}×${s.height}`;
      assert.ok(
        closeMeans(sw / s.n, s.meanW, s.stdW, s.n),
        `${label} mean w ${sw / s.n} vs ${s.meanW}`,
      );
      assert.ok(
        closeMeans(sh / s.n, s.meanH, s.stdH, s.n),
        `${label} mean h ${sh / s.n} vs ${s.meanH}`,
      );
      assert.ok(
        Math.abs(sa / s.n - s.meanArea) < 0.02,
        `${label} area ${sa / s.n} vs ${s.meanArea}`,
      );
      const p = s.fullFrac;
      assert.ok(
        Math.abs(full / s.n - p) <= 4 * Math.sqrt((2 * Math.max(p, 1 / s.n)) / s.n) + 1e-9,
        `${label} full-image fraction ${full / s.n} vs ${p}`,
      );
    }
  });

  it('RandomErasing: boxes strictly smaller than the image, inside it; p gates the draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (H, W, seed) => {
          const b = erasingBox(H, W, new Rng(seed));
          if (b === null) return;
          assert.ok(b.height < H && b.width < W && b.height >= 0 && b.width >= 0);
          assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= H && b.left + b.width <= W);
        },
      ),
      { numRuns: 400 },
    );
    const rng = new Rng(3);
    let hits = 0;
    for (let i = 0; i < 20000; i++) if (erasingParams(176, 176, rng, 0.1)) hits++;
    assert.ok(Math.abs(hits / 20000 - 0.1) < 0.01, `erase rate ${hits / 20000}`);
    assert.equal(erasingParams(176, 176, new Rng(1), 0), null);
  });

  it('RandomErasing: distribution of boxes and misses matches torchvision get_params', () => {
    for (const s of m.drawStats.erase) {
      const rng = new Rng(999, s.width, s.height);
      let sw = 0;
      let sh = 0;
      let k = 0;
      let miss = 0;
      for (let i = 0; i < s.n; i++) {
        const b = erasingBox(s.height, s.width, rng);
        if (!b) {
          miss++;
          continue;
        }
        sw += b.width;
        sh += b.height;
        k++;
      }
      const label = `${s.width}×${s.height}`;
      assert.ok(closeMeans(sw / k, s.meanW, s.stdW, k), `${label} mean w ${sw / k} vs ${s.meanW}`);
      assert.ok(closeMeans(sh / k, s.meanH, s.stdH, k), `${label} mean h ${sh / k} vs ${s.meanH}`);
      assert.ok(
        Math.abs(miss / s.n - s.missFrac) < 0.005,
        `${label} misses ${miss / s.n} vs ${s.missFrac}`,
      );
    }
  });

  it('TrivialAugmentWide: ops uniform over 14, bins over 31, signs ½, magnitudes from the table', () => {
    const space = augmentationSpace();
    const rng = new Rng(42);
    const n = 28000;
    const ops = new Map<string, number>();
    const bins = new Array<number>(31).fill(0);
    let signed = 0;
    let negative = 0;
    for (let i = 0; i < n; i++) {
      const c = taWideParams(rng);
      ops.set(c.op, (ops.get(c.op) ?? 0) + 1);
      const table = space[c.op].magnitudes;
      if (table === null) {
        assert.equal(c.magnitude, 0);
        assert.equal(c.bin, -1);
        continue;
      }
      bins[c.bin]!++;
      assert.equal(Math.abs(c.magnitude), table[c.bin]);
      if (space[c.op].signed && table[c.bin] !== 0) {
        signed++;
        if (c.magnitude < 0) negative++;
      }
    }
    assert.equal(ops.size, TA_WIDE_OPS.length);
    for (const [op, count] of ops)
      assert.ok(Math.abs(count / n - 1 / 14) < 0.006, `${op} ${count}`);
    const binTotal = bins.reduce((a, b) => a + b, 0);
    for (const b of bins) assert.ok(Math.abs(b / binTotal - 1 / 31) < 0.006);
    assert.ok(Math.abs(negative / signed - 0.5) < 0.02);
  });
});
