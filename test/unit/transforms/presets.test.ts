/**
 * The assembled pipelines and the CLI: configs from a recipe, determinism per Rng, the eval
 * transform equal to its pieces, shrink-on-load close to the full decode, decoding paths,
 * and `ringmaster augment`'s outputs and errors.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../../../common/errors.js';
import { defaultRecipe } from '../../../api/load.js';
import { Rng } from '../../../trainer/rng.js';
import { contactSheet, parseMagnitude, parseOp, runAugment } from '../../../trainer/cli/augment.js';
import {
  decodeRgb,
  decodeRgbSharp,
  peekImageSize,
} from '../../../trainer/data/transforms/decode.js';
import { evalResizeCrop } from '../../../trainer/data/transforms/eval.js';
import { normalize } from '../../../trainer/data/transforms/normalize.js';
import {
  makeEvalTransform,
  makeTrainTransform,
  shrinkFactor,
  transformConfigFromRecipe,
} from '../../../trainer/data/transforms/presets.js';
import { applyTaOp } from '../../../trainer/data/transforms/trivial-augment-wide.js';
import { turboJpeg } from '../../../trainer/data/transforms/turbojpeg.js';
import { diff, IMAGES, loadRgb } from './helpers.js';

describe('transform presets and ringmaster augment', () => {
  let jpeg: Uint8Array;
  let png: Uint8Array;
  let big: Uint8Array;
  let tmp: string;
  before(async () => {
    jpeg = new Uint8Array(await readFile(join(IMAGES, 'scene_c.jpg')));
    png = new Uint8Array(await readFile(join(IMAGES, 'scene_c.png')));
    // A large photo-like JPEG (scene_c upscaled) so that crops qualify for shrink-on-load.
    big = new Uint8Array(
      await sharp(png).resize(1600, 1200, { kernel: 'cubic' }).jpeg({ quality: 92 }).toBuffer(),
    );
    tmp = await mkdtemp(join(tmpdir(), 'rm-augment-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('config from the recipe: train 176 + TA-wide + erase 0.1, eval 232/224', () => {
    const r = defaultRecipe();
    const train = transformConfigFromRecipe(r, 'train');
    assert.equal(train.cropSize, 176);
    assert.equal(train.autoAugment, 'ta_wide');
    assert.equal(train.randomErase, 0.1);
    assert.equal(train.hflipProb, 0.5);
    assert.ok(Object.isFrozen(train));
    const ev = transformConfigFromRecipe(r, 'eval');
    assert.deepEqual(
      [ev.resizeSize, ev.cropSize, ev.autoAugment, ev.randomErase],
      [232, 224, null, 0],
    );
    const off = transformConfigFromRecipe({ ...r, autoAugment: 'none' }, 'train');
    assert.equal(off.autoAugment, null);
    // Plain JSON: survives structured cloning to a worker thread.
    assert.deepEqual(structuredClone(train), { ...train });
  });

  it('train transform: shape, determinism per Rng, different draws differ', async () => {
    const t = makeTrainTransform(transformConfigFromRecipe(defaultRecipe(), 'train'));
    const a = await t(jpeg, new Rng(5, 0, 1));
    const b = await t(jpeg, new Rng(5, 0, 1));
    const c = await t(jpeg, new Rng(5, 0, 2));
    assert.deepEqual([a.width, a.height, a.data.length], [176, 176, 176 * 176 * 3]);
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(a.data, c.data);
    for (const v of a.data) assert.ok(v >= -2.2 && v <= 2.7 && Number.isFinite(v));
  });

  it('concurrent calls (JPEG + PNG interleaved) give the same tensors as sequential ones', async () => {
    // The JPEG path decodes into a reused buffer; this shows no call reads another's pixels.
    const t = makeTrainTransform(transformConfigFromRecipe(defaultRecipe(), 'train'));
    const e = makeEvalTransform(transformConfigFromRecipe(defaultRecipe(), 'eval'));
    const inputs = [jpeg, png, big, jpeg, big, png, jpeg, big];
    const seq = [];
    for (let i = 0; i < inputs.length; i++) {
      seq.push(await t(inputs[i]!, new Rng(9, i)));
      seq.push(await e(inputs[i]!, new Rng(9, i)));
    }
    const par = await Promise.all(
      inputs.flatMap((b, i) => [t(b, new Rng(9, i)), e(b, new Rng(9, i))]),
    );
    for (let i = 0; i < seq.length; i++) assert.deepEqual(par[i]!.data, seq[i]!.data, `call ${i}`);
  });

  it('eval transform = Resize + CenterCrop + Normalize on the decoded pixels (JPEG and PNG)', async () => {
    const t = makeEvalTransform(transformConfigFromRecipe(defaultRecipe(), 'eval'));
    for (const buf of [jpeg, png]) {
      const got = await t(buf, new Rng(0));
      const want = normalize(evalResizeCrop(await decodeRgb(buf), 232, 224, 'bilinear'));
      assert.deepEqual([got.width, got.height], [224, 224]);
      assert.equal(diff(got.data, want).maxAbs, 0);
    }
  });

  it('decoders agree: TurboJPEG (if present) and sharp give the same pixels; header peek', async () => {
    assert.deepEqual(peekImageSize(jpeg), { width: 320, height: 240 });
    assert.deepEqual(peekImageSize(png), { width: 320, height: 240 });
    assert.equal(peekImageSize(new Uint8Array([1, 2, 3])), null);
    const viaSharp = await decodeRgbSharp(jpeg);
    const tj = turboJpeg();
    if (!tj) note('libturbojpeg.so.0 not found: sharp path only');
    const viaDefault = await decodeRgb(jpeg);
    assert.equal(diff(viaDefault.data, viaSharp.data).maxAbs, 0);
    const pngPixels = await loadRgb(join(IMAGES, 'scene_c.png'));
    assert.deepEqual((await decodeRgb(png)).data, pngPixels.data);
    await assert.rejects(decodeRgb(new Uint8Array([0xff, 0xd8, 0xff, 0, 1, 2])), InputError);
  });

  it('shrink-on-load: only when the crop stays ≥ the output; result close to the full decode', async () => {
    assert.equal(shrinkFactor({ top: 0, left: 0, width: 1500, height: 1410 }, 176), 8);
    assert.equal(shrinkFactor({ top: 0, left: 0, width: 1500, height: 1400 }, 176), 4);
    assert.equal(shrinkFactor({ top: 0, left: 0, width: 352, height: 400 }, 176), 2);
    assert.equal(shrinkFactor({ top: 0, left: 0, width: 351, height: 400 }, 176), 1);
    const cfg = transformConfigFromRecipe(defaultRecipe(), 'train');
    const exact = makeTrainTransform({
      ...cfg,
      shrinkOnLoad: false,
      autoAugment: null,
      randomErase: 0,
    });
    const fast = makeTrainTransform({
      ...cfg,
      shrinkOnLoad: true,
      autoAugment: null,
      randomErase: 0,
    });
    let shrunk = 0;
    for (let i = 0; i < 12; i++) {
      const a = await exact(big, new Rng(11, i));
      const b = await fast(big, new Rng(11, i));
      const d = diff(a.data, b.data);
      // In normalized units (÷ std ≈ 0.225): mean abs error < 5/255 in pixel terms.
      assert.ok(
        d.meanAbs * 0.225 < 5 / 255,
        `draw ${i}: mean abs ${(d.meanAbs * 0.225 * 255).toFixed(2)}/255`,
      );
      if (d.maxAbs > 0) shrunk++;
      if (process.env.RM_SHOW) console.log(i, (d.meanAbs * 0.225 * 255).toFixed(2));
    }
    assert.ok(shrunk > 0, 'some draws used a shrunk decode');
  });

  it('augment --op equals applyTaOp on the decoded image; --eval and --grid write PNGs', async () => {
    const out = join(tmp, 'op.png');
    await runAugment(join(IMAGES, 'scene_c.png'), { output: out, op: 'rotate', magnitude: '30' });
    const got = await loadRgb(out);
    const want = applyTaOp(await loadRgb(join(IMAGES, 'scene_c.png')), 'Rotate', 30, 'bilinear');
    assert.deepEqual(got.data, want.data);

    const ev = join(tmp, 'eval.png');
    await runAugment(join(IMAGES, 'scene_c.jpg'), { output: ev, eval: true });
    const meta = await sharp(ev).metadata();
    assert.deepEqual([meta.width, meta.height], [224, 224]);

    const sheet = await contactSheet(jpeg, defaultRecipe(), 2, 1);
    assert.equal(sheet.width, 2 * 176 + 3 * 4);
    const again = await contactSheet(jpeg, defaultRecipe(), 2, 1);
    assert.deepEqual(sheet.data, again.data);
  });

  it('augment errors name the problem', async () => {
    assert.throws(() => parseOp('Blur'), /unknown TrivialAugmentWide op "Blur"/);
    assert.equal(parseOp('SOLARIZE'), 'Solarize');
    assert.throws(() => parseMagnitude('Rotate', '200'), /out of range for Rotate/);
    assert.throws(() => parseMagnitude('Posterize', '3.5'), /out of range for Posterize/);
    assert.throws(() => parseMagnitude('Brightness', 'abc'), /not a number/);
    assert.throws(() => parseMagnitude('Brightness', undefined), /needs --magnitude/);
    assert.equal(parseMagnitude('Equalize', undefined), 0);
    assert.equal(parseMagnitude('Brightness', '-0.99'), -0.99);
    await assert.rejects(
      runAugment(join(IMAGES, 'missing.jpg'), { output: join(tmp, 'x.png'), op: 'Equalize' }),
      (e: unknown) => e instanceof InputError && /image not found/.test(e.message),
    );
    await assert.rejects(
      runAugment(join(IMAGES, 'scene_c.jpg'), {
        output: join(tmp, 'x.png'),
        eval: true,
        grid: '2',
      }),
      /exactly one of/,
    );
    await assert.rejects(
      runAugment(join(IMAGES, 'scene_c.jpg'), { output: join(tmp, 'x.png'), grid: '2' }),
      /--grid needs --recipe/,
    );
  });
});

/** Mocha has no skip-one-assertion; note why part of a test did not apply. */
function note(why: string): void {
  console.log(`      (note: ${why})`);
}
