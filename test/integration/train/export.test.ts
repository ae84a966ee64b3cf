/**
 * `ringmaster export` on the checkpoints of a real (tiny) `ringmaster train --local` run:
 * exporting the latest checkpoint reproduces the weights artifact the run wrote at its end,
 * an earlier checkpoint gives other weights, and a run without checkpoints is a clear error.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeSafetensors } from '../../../trainer/models/safetensors.js';

const run = promisify(execFile);
const root = new URL('../../../', import.meta.url).pathname;
const bin = join(root, 'bin', 'ringmaster.js');

function tensors(bytes: Uint8Array): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, t] of decodeSafetensors(bytes).tensors) {
    out.set(
      k,
      Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x)),
    );
  }
  return out;
}

async function ringmaster(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      timeout: 240_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('ringmaster export after ringmaster train --local', function () {
  this.timeout(300_000);
  let dir: string;
  let out: string;
  let env: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-export-it-'));
    out = join(dir, 'run');
    // generated datasets go to a private cache, not the user's
    env = { RINGMASTER_CACHE: join(dir, 'cache') };
    const recipe = {
      recipe: {
        model: 'resnet_mini',
        batchSize: 16,
        epochs: 2,
        lr: 0.05,
        lrWarmupEpochs: 1,
        modelEmaSteps: 1,
        modelEmaDecay: 0.99,
        trainCropSize: 16,
        valResizeSize: 16,
        valCropSize: 16,
        keepCheckpoints: 3,
      },
      workers: 1,
      data: {
        train: 'synthetic:shapes?train=48&val=32&size=16',
        val: 'synthetic:shapes?train=48&val=32&size=16',
      },
      output: out,
    };
    await writeFile(join(dir, 'recipe.json'), JSON.stringify(recipe));
    const res = await ringmaster(
      ['train', join(dir, 'recipe.json'), '--local', '--workers', '1', '--backend', 'wasm'],
      env,
    );
    assert.equal(res.code, 0, `train failed:\n${res.stdout}\n${res.stderr}`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('re-exports the latest checkpoint as exactly the weights the run published', async () => {
    const to = join(dir, 'export-latest');
    const res = await ringmaster(['export', '--output', out, '--to', to], env);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /exported EMA weights of resnet_mini/);
    const published = await readFile(join(out, 'weights', 'model.safetensors'));
    const exported = await readFile(join(to, 'weights', 'model.safetensors'));
    assert.deepEqual(tensors(exported), tensors(published));
    const a = JSON.parse(await readFile(join(out, 'weights', 'meta.json'), 'utf8'));
    const b = JSON.parse(await readFile(join(to, 'weights', 'meta.json'), 'utf8'));
    for (const key of [
      'arch',
      'numClasses',
      'categories',
      'ema',
      'metrics',
      'params',
      'gflops',
      'transforms',
      'recipeHash',
      'checkpoint',
    ]) {
      assert.deepEqual(b[key], a[key], key);
    }
  });

  it('exports an earlier checkpoint by name, with its own metrics', async () => {
    const to = join(dir, 'export-first');
    const res = await ringmaster(
      ['export', '--output', out, '--checkpoint', 'epoch-000001', '--to', to],
      env,
    );
    assert.equal(res.code, 0, res.stderr);
    const first = await readFile(join(to, 'weights', 'model.safetensors'));
    const last = await readFile(join(out, 'weights', 'model.safetensors'));
    assert.notDeepEqual(tensors(first), tensors(last));
    const meta = JSON.parse(await readFile(join(to, 'weights', 'meta.json'), 'utf8'));
    const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(meta.metrics.emaAcc1, metrics[0].emaAcc1);
    assert.match(meta.checkpoint, /epoch-000001$/);
  });

  it('fails with exit code 2 and the URI when there is no checkpoint', async () => {
    const empty = join(dir, 'empty');
    const res = await ringmaster(
      ['export', '--output', empty, '--recipe', join(dir, 'recipe.json')],
      env,
    );
    assert.equal(res.code, 2);
    assert.match(res.stderr, /^ringmaster: no intact checkpoint under .*empty\/checkpoints/m);
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace for a user error');
  });
});
