import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { predict, type Prediction } from '../../../trainer/cli/predict.js';
import { initBackend } from '../../../trainer/engine/backend.js';
import { getArch, type ResNetArch } from '../../../trainer/models/arch.js';
import { createResNet } from '../../../trainer/models/resnet.js';
import { readSafetensors, writeSafetensors } from '../../../trainer/models/safetensors.js';
import { stateDict } from '../../../trainer/models/weights.js';

const fixtures = new URL('../../fixtures/oracle/models/', import.meta.url).pathname;
const root = new URL('../../../', import.meta.url).pathname;
const mean = [0.485, 0.456, 0.406];
const std = [0.229, 0.224, 0.225];

describe('ringmaster predict', function () {
  this.timeout(60000);
  let dir: string;
  before(async () => {
    await initBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'rm-predict-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reproduces torchvision: eval transform from meta.json + weights → same logits (oracle)', async () => {
    const w = join(dir, 'oracle');
    fresh(w);
    copyFileSync(
      join(fixtures, 'basic_imagenet_stem.weights.safetensors'),
      join(w, 'model.safetensors'),
    );
    const categories = Array.from({ length: 10 }, (_, i) => `class-${i}`);
    writeFileSync(
      join(w, 'meta.json'),
      JSON.stringify({
        categories,
        transforms: { resizeSize: 72, cropSize: 64, interpolation: 'bilinear', mean, std },
      }),
    );
    const arch: ResNetArch = {
      name: 'oracle_basic',
      block: 'basic',
      layers: [1, 1, 1, 1],
      groups: 1,
      widthPerGroup: 64,
      planes: [8, 16, 32, 64],
      stem: 'imagenet',
    };
    const [p] = await predict([join(fixtures, 'predict.png')], { weights: w, arch, logits: true });
    const ref = (await readSafetensors(join(fixtures, 'predict.io.safetensors'))).tensors.get(
      'logits',
    )!.data as Float32Array;
    let maxDiff = 0;
    let maxRef = 0;
    ref.forEach((r, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(p!.logits![i]! - r));
      maxRef = Math.max(maxRef, Math.abs(r));
    });
    assert.ok(maxDiff / maxRef <= 1e-4, `logits rel err ${maxDiff / maxRef}`);
    const best = ref.indexOf(Math.max(...ref));
    assert.equal(p!.top[0]!.label, `class-${best}`);
    assert.equal(p!.top.length, 5);
  });

  it('the CLI prints top-5 JSON from a weights directory (meta.json arch + transforms)', async () => {
    const w = join(dir, 'mini');
    fresh(w);
    const model = createResNet(getArch('resnet_mini'), { numClasses: 7, seed: 4 });
    await writeSafetensors(join(w, 'model.safetensors'), stateDict(model));
    model.dispose();
    const categories = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    writeFileSync(
      join(w, 'meta.json'),
      JSON.stringify({
        arch: 'resnet_mini',
        categories,
        transforms: { resizeSize: 36, cropSize: 32, interpolation: 'bilinear', mean, std },
      }),
    );
    const img = join(dir, 'img.jpg');
    await sharp({
      create: { width: 50, height: 40, channels: 3, background: { r: 200, g: 30, b: 90 } },
    })
      .jpeg()
      .toFile(img);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(root, 'bin/ringmaster.js'), 'predict', '--weights', w, '--json', img],
      { env: { ...process.env, RINGMASTER_BACKEND: 'wasm', RINGMASTER_LOG_LEVEL: 'warn' } },
    );
    const preds = JSON.parse(stdout) as Prediction[];
    assert.equal(preds.length, 1);
    const top = preds[0]!.top;
    assert.equal(top.length, 5);
    for (let i = 1; i < top.length; i++) assert.ok(top[i - 1]!.probability >= top[i]!.probability);
    assert.ok(top.every((t) => categories.includes(t.label)));
    assert.ok(top.reduce((s, t) => s + t.probability, 0) <= 1 + 1e-9);
    assert.equal(preds[0]!.logits, undefined);
  });

  it('says which tensor does not fit when weights and arch disagree', async () => {
    await assert.rejects(
      predict([join(fixtures, 'predict.png')], {
        weights: join(fixtures, 'basic_imagenet_stem.weights.safetensors'),
        arch: 'resnet_mini',
      }),
      (err: Error & { issues?: Array<{ path: string }> }) =>
        err.issues!.some((i) => i.path === 'conv1.weight'),
    );
  });
});

function fresh(path: string): void {
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path);
}
