/**
 * `ringmaster study STUDY.yaml --local`'s runner with the real trainer, kept small: a two-row
 * ladder on synthetic shapes with screening (1 epoch each), the better row's full run
 * (2 epochs), one seed per row. The choice and the table are checked against the files the
 * runs wrote, not against figures known in advance.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROGRESS_FILE, SEEDS_FILE, STUDY_FILE, STUDY_MARKDOWN_FILE } from '../../../api/names.js';
import type { SeedRunStatus } from '../../../api/status.js';
import { parseTrainingStudy } from '../../../api/study-load.js';
import { resolveDataUri } from '../../../trainer/data/resolve.js';
import { runStudy } from '../../../trainer/local/study.js';

const DATA = 'synthetic:shapes?train=128&val=32&size=16';
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

describe('study --local: a ladder with screening (local trainer)', function () {
  this.timeout(900_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-study-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('screens both rows, fully trains the better one, writes the table', async () => {
    const cacheDir = join(dir, 'cache');
    const out = join(dir, 'runs');
    const { spec } = parseTrainingStudy({
      apiVersion: 'ringmaster.dev/v1alpha1',
      kind: 'TrainingStudy',
      metadata: { name: 'tiny' },
      spec: {
        base: {
          workers: 1,
          data: { train: DATA, val: DATA },
          output: out,
          recipe: {
            model: 'resnet_mini',
            batchSize: 16,
            epochs: 2,
            lr: 0.1,
            lrWarmupEpochs: 0,
            mixupAlpha: 0,
            cutmixAlpha: 0,
            autoAugment: 'none',
            randomErase: 0,
            raSampler: false,
            trainCropSize: 16,
            valResizeSize: 16,
            valCropSize: 16,
            modelEmaSteps: 2,
          },
        },
        seeds: [0],
        steps: [{ name: 'low-lr', patch: { lr: 0.01 } }],
        screening: { screenEpochs: 1, keep: 1 },
      },
    });
    const resolved = {
      ...structuredClone(spec),
      base: {
        ...structuredClone(spec.base),
        data: {
          train: await resolveDataUri(DATA, 'train', { cacheDir }),
          val: await resolveDataUri(DATA, 'val', { cacheDir }),
        },
      },
    };
    const result = await runStudy({
      study: resolved,
      workers: 1,
      maxRestarts: 0,
      cacheDir,
      allowRecipeChange: false,
      out: quiet,
      loaderThreads: 1,
    });

    // Screening: both rows ran 1 epoch into screen/<slug>/; the kept one has the higher score.
    const readSeeds = async (o: string) =>
      (JSON.parse(await readFile(join(o, SEEDS_FILE), 'utf8')) as { seeds: SeedRunStatus[] }).seeds;
    const scores: number[] = [];
    for (const slug of ['00-baseline', '01-low-lr']) {
      const seeds = await readSeeds(join(out, 'screen', slug));
      assert.equal(seeds[0]!.phase, 'Succeeded');
      const progress = JSON.parse(
        await readFile(join(out, 'screen', slug, 'seed-0', PROGRESS_FILE), 'utf8'),
      ) as { epochs: number };
      assert.equal(progress.epochs, 1, `${slug} screened for 1 epoch`);
      scores.push(seeds[0]!.metrics!.emaAcc1!);
    }
    assert.deepEqual(
      result.screening!.map((s) => s.score),
      scores,
    );
    const best = scores[1]! > scores[0]! ? 1 : 0;
    assert.deepEqual(
      result.screening!.map((s) => s.kept),
      [best === 0, best === 1],
    );

    // The full run: the kept row only, 2 epochs, its seed's EMA Acc@1 in the table.
    const name = ['baseline', 'low-lr'][best]!;
    const fullOut = join(out, best === 0 ? '00-baseline' : '01-low-lr');
    assert.deepEqual(
      result.variants.map((v) => [v.name, v.output]),
      [[name, fullOut]],
    );
    const full = await readSeeds(fullOut);
    const progress = JSON.parse(await readFile(join(fullOut, 'seed-0', PROGRESS_FILE), 'utf8')) as {
      epochs: number;
    };
    assert.equal(progress.epochs, 2);
    assert.equal(result.rows.length, 1);
    assert.equal(result.rows[0]!.name, name);
    assert.equal(result.rows[0]!.n, 1);
    assert.equal(result.rows[0]!.acc1.mean, full[0]!.metrics!.emaAcc1);
    assert.match(result.figure, /^EMA weights/);

    const written = JSON.parse(await readFile(join(out, STUDY_FILE), 'utf8')) as {
      rows: unknown[];
    };
    assert.deepEqual(written.rows, JSON.parse(JSON.stringify(result.rows)));
    assert.match(
      await readFile(join(out, STUDY_MARKDOWN_FILE), 'utf8'),
      new RegExp(`^\\| ${name} \\| 1 \\|`, 'm'),
    );
  });
});
