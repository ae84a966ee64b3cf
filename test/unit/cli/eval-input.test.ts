/**
 * `ringmaster eval` refuses bad input before it reads data or writes anything: an error that
 * names the flag, exit code 2 (ExitCode.invalidInput), meta.json untouched. The data URI is a
 * path that does not exist, so an eval that got as far as reading data would fail otherwise.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { ExitCode } from '../../../api/names.js';
import { exitCodeOf, InputError } from '../../../common/errors.js';
import { commands } from '../../../trainer/cli/commands.js';
import { initBackend } from '../../../trainer/engine/backend.js';
import { getArch } from '../../../trainer/models/arch.js';
import { createResNet } from '../../../trainer/models/resnet.js';
import { encodeSafetensors } from '../../../trainer/models/safetensors.js';
import { stateDict } from '../../../trainer/models/weights.js';

function program(): Command {
  const p = new Command('ringmaster').exitOverride();
  for (const register of commands) register(p);
  return p;
}

describe('cli: ringmaster eval refuses bad input, naming the flag, writing nothing', function () {
  this.timeout(60_000);
  let dir: string;
  let weights: string;
  let checkpoint: string;
  let meta: string;
  before(async () => {
    await initBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'rm-eval-input-'));
    weights = join(dir, 'weights');
    checkpoint = join(dir, 'ckpt');
    const model = createResNet(getArch('resnet_mini'), { numClasses: 3, seed: 0 });
    const body = Buffer.from(encodeSafetensors(stateDict(model), { arch: 'resnet_mini' }));
    model.dispose();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(weights);
    await mkdir(checkpoint);
    await writeFile(join(weights, 'model.safetensors'), body);
    meta = JSON.stringify({
      arch: 'resnet_mini',
      ema: true,
      transforms: {
        resizeSize: 18,
        cropSize: 16,
        interpolation: 'bilinear',
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      },
    });
    await writeFile(join(weights, 'meta.json'), meta);
    // A checkpoint: model weights and state.json, no meta.json.
    await writeFile(join(checkpoint, 'model.safetensors'), body);
    await writeFile(join(checkpoint, 'state.json'), JSON.stringify({ format: 1, extra: {} }));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const cases: Array<[string, () => string[], string, RegExp]> = [
    [
      'a grid starting below the crop',
      () => ['--resize-grid', '8:24:4'],
      '--resize-grid',
      /crop size 16/,
    ],
    [
      'a reversed grid',
      () => ['--resize-grid', '24:16'],
      '--resize-grid',
      /END \(16\) must be ≥ START \(24\)/,
    ],
    ['a zero step', () => ['--resize-grid', '16:24:0'], '--resize-grid', /STEP must be ≥ 1/],
    ['a negative step', () => ['--resize-grid', '16:24:-8'], '--resize-grid', /START:END\[:STEP\]/],
    ['too many points', () => ['--resize-grid', '16:100:1'], '--resize-grid', /at most 64/],
    ['--write-meta without a grid', () => ['--write-meta'], '--write-meta', /needs --resize-grid/],
    ['an unknown split', () => ['--split', 'third'], '--split', /all, even, odd/],
    ['a half with a grid', () => ['--split', 'odd', '--resize-grid', '16:24'], '--split', /all/],
  ];
  for (const [what, extra, flag, message] of cases) {
    it(`${what}: exit 2 naming ${flag}, meta.json untouched`, async () => {
      const argv = ['eval', '--weights', weights, '--data', join(dir, 'no-such-split'), ...extra()];
      // With a grid, ask for meta.json to be written too: the refusal must come first.
      if (argv.includes('--resize-grid') && !argv.includes('--write-meta'))
        argv.push('--write-meta');
      const err = await program()
        .parseAsync(argv, { from: 'user' })
        .then(
          () => assert.fail(`${argv.join(' ')} was accepted`),
          (e: unknown) => e,
        );
      assert.ok(err instanceof InputError, String(err));
      assert.equal(exitCodeOf(err), ExitCode.invalidInput);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        [flag],
      );
      assert.match(err.issues[0]!.message + err.message, message);
      assert.equal(await readFile(join(weights, 'meta.json'), 'utf8'), meta);
    });
  }

  it('--write-meta on a checkpoint (no meta.json): exit 2 naming --write-meta, nothing written', async () => {
    const err = await program()
      .parseAsync(
        [
          'eval',
          '--weights',
          checkpoint,
          '--arch',
          'resnet_mini',
          '--data',
          join(dir, 'none'),
          '--resize-grid',
          '224:232',
          '--write-meta',
        ],
        { from: 'user' },
      )
      .then(
        () => assert.fail('accepted'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof InputError, String(err));
    assert.deepEqual(
      err.issues.map((i) => i.path),
      ['--write-meta'],
    );
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual((await readdir(checkpoint)).sort(), ['model.safetensors', 'state.json']);
  });
});
