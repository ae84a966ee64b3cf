/**
 * The registry round trip shared by the local test (test/unit/registry) and the MinIO one
 * (test/integration/registry): publish the torchvision import fixture (written by
 * docs/snippets/torchvision_weights.py through test/oracle/registry_import.py), list, show,
 * and predict by name — the logits must be torchvision's own.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageOptions } from '../../../common/storage/storage.js';
import { predict } from '../../../trainer/cli/predict.js';
import { countMacs, countParams, getArch } from '../../../trainer/models/arch.js';
import { readSafetensors } from '../../../trainer/models/safetensors.js';
import { describeArtifact, readArtifact } from '../../../trainer/registry/describe.js';
import { WeightsRegistry } from '../../../trainer/registry/registry.js';

export const fixtures = new URL('../../fixtures/oracle/', import.meta.url).pathname;
export const TV_IMPORT = join(fixtures, 'registry', 'tv_import');
export const PNG = join(fixtures, 'models', 'predict.png');
export const NAME = 'resnext_mini.ORACLE_V1';

export async function publishFixture(
  registry: string,
  storage: StorageOptions,
  name = NAME,
  force = false,
  dataset = 'Oracle-10',
) {
  const reg = WeightsRegistry.open(registry, storage);
  try {
    const artifact = await readArtifact(TV_IMPORT);
    const entry = describeArtifact(artifact, { name, dataset });
    return { entry, ...(await reg.publish(artifact, entry, { force })) };
  } finally {
    reg.close();
  }
}

export async function roundTrip(registry: string, storage: StorageOptions): Promise<void> {
  await publishFixture(registry, storage);
  const reg = WeightsRegistry.open(registry, storage);
  try {
    const rows = await reg.list();
    assert.deepEqual(
      rows.map((r) => r.name),
      [NAME],
    );
    const e = await reg.show(NAME);
    const meta = JSON.parse(readFileSync(join(TV_IMPORT, 'meta.json'), 'utf8'));
    const arch = getArch('resnext_mini');
    // What torchvision's weights.meta carries, computed by us and checked against torch's.
    assert.equal(e.arch, 'resnext_mini');
    assert.deepEqual(e.categories, meta.categories);
    assert.equal(e.numParams, meta.origin.num_params, 'torch counted the same parameters');
    assert.equal(e.numParams, countParams(arch, 10));
    assert.equal(e.gflops, countMacs(arch, 32, 10) / 1e9);
    assert.deepEqual(e.metrics, { 'Oracle-10': { acc1: 12.5, acc5: 50 } });
    assert.deepEqual(e.transforms, {
      resizeSize: 36,
      cropSize: 32,
      interpolation: 'bilinear',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    assert.equal(e.recipe, null);
    assert.equal(e.source.origin?.weights, 'ResNextMiniWeights.ORACLE_V1');
    const file = readFileSync(join(TV_IMPORT, 'model.safetensors'));
    assert.equal(e.file.sha256, createHash('sha256').update(file).digest('hex'));
    assert.equal(e.file.bytes, file.length);
    assert.equal(rows[0]!.weightsSha256, e.file.sha256);
  } finally {
    reg.close();
  }

  // predict by name: the entry's transforms (resize 36, crop 32) and torchvision's logits.
  const [p] = await predict([PNG], { weights: NAME, registry, storage, logits: true });
  const ref = (
    await readSafetensors(join(fixtures, 'registry', 'expected.safetensors'))
  ).tensors.get('logits')!.data as Float32Array;
  let maxDiff = 0;
  let maxRef = 0;
  ref.forEach((r, i) => {
    maxDiff = Math.max(maxDiff, Math.abs(p!.logits![i]! - r));
    maxRef = Math.max(maxRef, Math.abs(r));
  });
  assert.ok(maxDiff / maxRef <= 1e-4, `logits rel err ${maxDiff / maxRef}`);
  const meta = JSON.parse(readFileSync(join(TV_IMPORT, 'meta.json'), 'utf8'));
  assert.equal(p!.top[0]!.label, meta.categories[ref.indexOf(Math.max(...ref))]);
}
