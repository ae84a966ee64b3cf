import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseRecipe, recipeHash } from '../../../api/load.js';
import { ExitCode } from '../../../api/names.js';
import { exitCodeOf, InputError, NotFoundError } from '../../../common/errors.js';
import { LocalStorage } from '../../../common/storage/local-storage.js';
import { writeWeights } from '../../../trainer/checkpoint/weights.js';
import { initBackend } from '../../../trainer/engine/backend.js';
import { countMacs, countParams, getArch } from '../../../trainer/models/arch.js';
import { createResNet } from '../../../trainer/models/resnet.js';
import { resolveDataUri } from '../../../trainer/data/resolve.js';
import type { EpochMetrics } from '../../../trainer/report/metrics-log.js';
import { formatEntry } from '../../../trainer/cli/weights.js';
import { closeNames } from '../../../trainer/registry/close-names.js';
import {
  describeArtifact,
  readArtifact,
  readSeedSummary,
  seedsFileOf,
} from '../../../trainer/registry/describe.js';
import { openWeightsArg } from '../../../trainer/registry/open.js';
import { WeightsRegistry } from '../../../trainer/registry/registry.js';
import { evaluateWeights } from '../../../trainer/tune-resize.js';
import { NAME, PNG, TV_IMPORT, publishFixture, roundTrip } from './round-trip.js';

const root = new URL('../../../', import.meta.url).pathname;
const run = promisify(execFile);

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

/** A Ringmaster run's weights artifact (writeWeights, as a run ends) of resnet_mini with 7 classes. */
async function runArtifact(out: string, seed = 0): Promise<string> {
  const recipe = parseRecipe({
    model: 'resnet_mini',
    epochs: 3,
    lrWarmupEpochs: 1,
    seed,
    valResizeSize: 36,
    valCropSize: 32,
  });
  const model = createResNet(getArch('resnet_mini'), { numClasses: 7, seed: 3 });
  const metrics = {
    epoch: 2,
    acc1: 41.5,
    acc5: 90.25,
    emaAcc1: 43.75,
    emaAcc5: 91.5,
  } as EpochMetrics;
  try {
    await writeWeights(new LocalStorage(out), {
      model,
      arch: getArch('resnet_mini'),
      recipe,
      categories: ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
      metrics,
      gflops: { train: 0, val: 0 },
      checkpoint: null,
      ema: true,
      extra: { epoch: 2 },
    });
  } finally {
    model.dispose();
  }
  return join(out, 'weights');
}

describe('weights registry (local directory)', function () {
  this.timeout(120_000);
  let dir: string;
  before(async () => {
    await initBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'rm-registry-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('round trip: publish the torchvision import, list, show, predict by name (torch logits)', async () => {
    await roundTrip(join(dir, 'reg'), {});
  });

  it('GFLOPs and num_params as torchvision publishes them for resnet50 (4.089 at 224, 25557032)', () => {
    // What describeArtifact computes for an entry: conv + linear MACs at the eval crop.
    const arch = getArch('resnet50');
    assert.equal(Number((countMacs(arch, 224, 1000) / 1e9).toFixed(3)), 4.089);
    assert.equal(countParams(arch, 1000), 25557032);
  });

  it('a run’s artifact: the EMA figures, the recipe embedded and hashed, the seeds’ summary', async () => {
    const out = join(dir, 'runs', 'seed-1');
    const artifact = await runArtifact(out, 1);
    await writeFile(
      join(dir, 'runs', 'seeds.json'),
      JSON.stringify({
        seeds: [
          { seed: 0, phase: 'Succeeded' },
          { seed: 1, phase: 'Succeeded' },
        ],
        summary: {
          n: 2,
          failed: 0,
          emaAcc1: { n: 2, mean: 42, sd: 2.47, median: 42, min: 40.25, max: 43.75 },
          headline: '42.00 ± 2.47 (2)',
        },
      }),
    );
    const where = seedsFileOf(artifact)!;
    assert.deepEqual(where, { root: join(dir, 'runs'), seed: 1 });
    const seeds = await readSeedSummary(join(where.root, 'seeds.json'), where.seed);
    const a = await readArtifact(artifact);
    const e = describeArtifact(a, { name: 'resnet_mini.RINGMASTER_V1', dataset: 'shapes', seeds });
    assert.deepEqual(e.metrics.shapes, { acc1: 43.75, acc5: 91.5, seeds });
    assert.equal(e.source.ema, true);
    assert.equal(e.source.epoch, 2);
    assert.equal(e.recipe!.sha256, recipeHash(parseRecipe(a.meta.recipe)));
    assert.equal(e.recipe!.spec.seed, 1);
    assert.deepEqual(e.transforms.resizeSize, 36);
    assert.equal(e.gflops, countMacs(getArch('resnet_mini'), 32, 7) / 1e9);
    await assert.rejects(
      readSeedSummary(join(where.root, 'seeds.json'), 5),
      /seed 5 is not a succeeded seed/,
    );
  });

  it('refuses an existing name (nothing written); --force moves the name, the old artifact stays', async () => {
    const reg = join(dir, 'force');
    const first = await publishFixture(reg, {});
    const before = await files(reg);
    const index = await readFile(join(reg, 'index.json'), 'utf8');
    await assert.rejects(publishFixture(reg, {}), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(exitCodeOf(e), ExitCode.invalidInput);
      assert.match(e.message, /already has "resnext_mini\.ORACLE_V1"/);
      return true;
    });
    assert.deepEqual(await files(reg), before);
    assert.equal(await readFile(join(reg, 'index.json'), 'utf8'), index);
    const second = await publishFixture(reg, {}, NAME, true);
    assert.notEqual(second.uri, first.uri, 'a new artifact directory (publishedAt differs)');
    assert.equal(second.replaced?.dir, first.uri.slice(reg.length + 1));
    const r = WeightsRegistry.open(reg);
    assert.equal((await r.show(NAME)).publishedAt, second.entry.publishedAt);
    assert.ok((await files(reg)).some((f) => f.startsWith(first.uri.slice(reg.length + 1))));
  });

  it('concurrent publishers: every name lands in index.json (compare-and-swap under a lock file)', async () => {
    const reg = join(dir, 'concurrent');
    const names = ['m.A', 'm.B', 'm.C', 'm.D', 'm.E'];
    await Promise.all(names.map((n) => publishFixture(reg, {}, n)));
    const r = WeightsRegistry.open(reg);
    assert.deepEqual(
      (await r.list()).map((x) => x.name),
      names,
    );
    assert.ok(!(await files(reg)).some((f) => f.endsWith('.lock')));
  });

  it('an unknown name: exit 2, close names listed', async () => {
    const reg = join(dir, 'unknown');
    await publishFixture(reg, {});
    await assert.rejects(
      openWeightsArg({ weights: 'resnext_mini.ORACLE_V2', registry: reg }),
      (e: unknown) => {
        assert.ok(e instanceof NotFoundError);
        assert.equal(exitCodeOf(e), ExitCode.invalidInput);
        assert.match(
          e.message,
          /no weights named "resnext_mini\.ORACLE_V2".*did you mean resnext_mini\.ORACLE_V1\?/,
        );
        return true;
      },
    );
    // Through the default registry (no --registry): it may have been a mistyped path.
    await assert.rejects(
      openWeightsArg({ weights: 'resnext_mini.ORACLE_V2', defaultRegistry: reg }),
      /did you mean resnext_mini\.ORACLE_V1\? \(RINGMASTER_WEIGHTS_REGISTRY\); nor is there a local path/,
    );
    assert.deepEqual(
      closeNames('resnet50.IMAGENET1K_V3', [
        'resnet50.IMAGENET1K_V2',
        'resnet18.IMAGENET1K_V1',
        'x',
      ]),
      ['resnet50.IMAGENET1K_V2', 'resnet18.IMAGENET1K_V1'],
    );
  });

  it('weights that are not the architecture meta.json names: refused naming both, nothing written', async () => {
    const bad = join(dir, 'bad');
    await run('cp', ['-r', TV_IMPORT, bad]);
    const meta = JSON.parse(await readFile(join(bad, 'meta.json'), 'utf8'));
    await writeFile(join(bad, 'meta.json'), JSON.stringify({ ...meta, arch: 'resnet_mini' }));
    const reg = join(dir, 'bad-reg');
    await assert.rejects(
      (async () => describeArtifact(await readArtifact(bad), { name: 'x.Y', dataset: 'd' }))(),
      /does not hold resnet_mini weights.*by its tensors it is resnext_mini with 10 classes/,
    );
    // Through the CLI: exit 2, and the registry directory never created.
    const res = await run(
      process.execPath,
      [
        join(root, 'bin/ringmaster.js'),
        'weights',
        'publish',
        bad,
        '--name',
        'x.Y',
        '--registry',
        reg,
      ],
      { env: { ...process.env, RINGMASTER_LOG_LEVEL: 'warn' } },
    ).catch((e: { code: number; stderr: string }) => e);
    assert.equal((res as { code: number }).code, ExitCode.invalidInput);
    assert.match((res as { stderr: string }).stderr, /resnext_mini/);
    await assert.rejects(readdir(reg), /ENOENT/);
  });

  it('eval by name: classes of weights and data must agree (error names both, exit 2)', async () => {
    const reg = join(dir, 'eval-reg');
    const artifact = await runArtifact(join(dir, 'seven'));
    const r = WeightsRegistry.open(reg);
    const a = await readArtifact(artifact);
    await r.publish(a, describeArtifact(a, { name: 'mini7.V1', dataset: 'd' }));
    await publishFixture(reg, {});
    const data = await resolveDataUri('synthetic:shapes?train=10&val=20&size=32', 'val', {
      cacheDir: join(dir, 'cache'),
    });
    const seven = await openWeightsArg({ weights: 'mini7.V1', registry: reg });
    try {
      await assert.rejects(
        evaluateWeights({ weights: seven, data, batchSize: 10, loaderThreads: 0 }),
        (e: unknown) => {
          assert.equal(exitCodeOf(e), ExitCode.invalidInput);
          assert.match(
            String(e),
            /mini7\.V1 .*\(resnet_mini\) classify 7 classes but the data .* has 10/,
          );
          return true;
        },
      );
    } finally {
      seven.model.dispose();
    }
    // The entry's transforms apply: the 10-class import evaluates at its resize 36.
    const ten = await openWeightsArg({ weights: NAME, registry: reg });
    try {
      const res = await evaluateWeights({ weights: ten, data, batchSize: 10, loaderThreads: 0 });
      assert.equal(res.count, 20);
      assert.equal(res.resize, 36);
    } finally {
      ten.model.dispose();
    }
    // --write-meta refuses registry weights (read-only), before reading any data.
    const cli = await run(
      process.execPath,
      [
        join(root, 'bin/ringmaster.js'),
        'eval',
        '--weights',
        NAME,
        '--registry',
        reg,
        '--data',
        data,
        '--resize-grid',
        '32:40:4',
        '--write-meta',
      ],
      { env: { ...process.env, RINGMASTER_LOG_LEVEL: 'warn', RINGMASTER_BACKEND: 'wasm' } },
    ).catch((e: { code: number; stderr: string }) => e);
    assert.equal((cli as { code: number }).code, ExitCode.invalidInput);
    assert.match((cli as { stderr: string }).stderr, /registry weights are read-only/);
  });

  it('the CLI: publish, list --json, predict with the registry from the environment', async () => {
    const reg = join(dir, 'cli');
    const env = {
      ...process.env,
      RINGMASTER_LOG_LEVEL: 'warn',
      RINGMASTER_BACKEND: 'wasm',
      RINGMASTER_WEIGHTS_REGISTRY: reg,
    };
    const cli = (...args: string[]) =>
      run(process.execPath, [join(root, 'bin/ringmaster.js'), ...args], { env });
    await cli('weights', 'publish', TV_IMPORT, '--name', NAME);
    const list = JSON.parse((await cli('weights', 'list', '--json')).stdout);
    assert.equal(list[0].name, NAME);
    const shown = formatEntry(await WeightsRegistry.open(reg).show(NAME));
    assert.match(shown, /num_params +218,366/);
    assert.match(shown, /transforms +resize 36, center crop 32, bilinear/);
    const preds = JSON.parse((await cli('predict', '--weights', NAME, '--json', PNG)).stdout);
    assert.equal(preds[0].top.length, 5);
  });
});
