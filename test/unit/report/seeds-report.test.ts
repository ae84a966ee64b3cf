/**
 * The multi-seed report (`train --local --seeds` → <output>/report.html): each seed's curves
 * overlaid (one line per seed in the Acc@1, EMA Acc@1 and loss charts, drawn from that seed's
 * metrics.jsonl) and the summary table with the figures of seeds.json.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainingRecipe } from '../../../api/load.js';
import { SEEDS_REPORT_FILE } from '../../../api/names.js';
import { formatSpread } from '../../../api/seeds.js';
import { RetryableError } from '../../../common/errors.js';
import type { LaunchOptions } from '../../../trainer/local/launcher.js';
import { runSeeds, SeedsFailedError } from '../../../trainer/local/seeds.js';
import {
  METRICS_FILE,
  toMetricsJsonl,
  type EpochMetrics,
} from '../../../trainer/report/metrics-log.js';

const row = (epoch: number, seed: number): EpochMetrics => ({
  epoch,
  lr: 0.1,
  trainLoss: 2 - epoch * 0.5 - seed * 0.01,
  trainAcc1: 0,
  trainAcc5: 0,
  imagesPerSec: 100,
  seconds: 1,
  acc1: 50 + 10 * epoch + seed,
  acc5: 90,
  emaAcc1: 48 + 10 * epoch + seed,
  emaAcc5: 89,
  evalBiased: false,
});

/** The <figure> whose caption is `caption`. */
function figure(html: string, caption: string): string {
  const m = new RegExp(`<figure><figcaption>${caption}</figcaption>.*?</figure>`, 's').exec(html);
  assert.ok(m, `no chart "${caption}"`);
  return m[0];
}

/** Points per drawn line, in order: the circles after each <path>. */
function lines(fig: string): Array<{ color: string; points: number }> {
  return [
    ...fig.matchAll(
      /<path d="[^"]*" fill="none" stroke="(#[0-9a-f]{6})"[^>]*\/>((?:<circle[^>]*\/>)*)/g,
    ),
  ].map((m) => ({ color: m[1]!, points: (m[2]!.match(/<circle/g) ?? []).length }));
}

describe('seeds report (report.html of train --seeds)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-seeds-report-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('overlays one line per seed in the Acc@1, EMA Acc@1 and loss charts and tabulates the summary', async () => {
    const out = join(dir, 'runs');
    const { spec } = parseTrainingRecipe({
      workers: 1,
      seeds: [0, 1, 2],
      data: { train: '/d/train', val: '/d/val' },
      output: out,
      recipe: { model: 'resnet_mini', epochs: 3, lrWarmupEpochs: 0 },
    });
    // Seeds 0 and 2 train 3 epochs; seed 1 fails after its first epoch.
    const launch = async (o: LaunchOptions) => {
      const seed = (o.spec.recipe as { seed: number }).seed;
      const epochs = seed === 1 ? 1 : 3;
      const rows = Array.from({ length: epochs }, (_, e) => row(e, seed));
      await mkdir(o.spec.output, { recursive: true });
      await writeFile(join(o.spec.output, METRICS_FILE), toMetricsJsonl(rows));
      if (seed === 1) throw new RetryableError('rank 0 failed (exit code 75) after 0 restart(s)');
      const last = rows.at(-1)!;
      return {
        acc1: last.acc1,
        acc5: last.acc5,
        emaAcc1: last.emaAcc1,
        emaAcc5: last.emaAcc5,
        weights: 'w',
        report: null,
        epochs,
        seconds: 1,
      };
    };
    const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    const err = await runSeeds({
      spec,
      seeds: [0, 1, 2],
      parallelism: 1,
      workers: 1,
      maxRestarts: 0,
      cacheDir: dir,
      allowRecipeChange: false,
      out: quiet,
      launch,
    }).then(
      () => assert.fail('seed 1 fails'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SeedsFailedError);
    const { summary, report } = err.runs;
    assert.equal(report, join(out, SEEDS_REPORT_FILE));
    const html = await readFile(report, 'utf8');

    for (const caption of [
      'Validation Acc@1 per seed',
      'EMA Acc@1 per seed',
      'Training loss per seed',
    ]) {
      const fig = figure(html, caption);
      // One line per seed, each its own color, with as many points as the seed has epochs.
      const drawn = lines(fig);
      assert.deepEqual(
        drawn.map((l) => l.points),
        [3, 1, 3],
        caption,
      );
      assert.equal(new Set(drawn.map((l) => l.color)).size, 3);
      for (const seed of [0, 1, 2]) assert.ok(fig.includes(`>seed ${seed}</text>`), caption);
    }

    // Final figures per seed; the failed seed shows why instead of numbers.
    assert.match(
      html,
      /<tr><td>0<\/td><td>Succeeded<\/td><td>70\.00<\/td><td>90\.00<\/td><td>68\.00<\/td><td>89\.00<\/td><td>3<\/td>/,
    );
    assert.match(
      html,
      /<tr><td>1<\/td><td>Failed<\/td><td colspan="4">rank 0 failed \(exit code 75\)[^<]*<\/td><td>1<\/td>/,
    );
    assert.match(html, /<tr><td>2<\/td><td>Succeeded<\/td><td>72\.00<\/td>/);

    // Summary over seeds 0 and 2 only: mean 71, sd √2, as seeds.json has it.
    assert.equal(summary.n, 2);
    assert.match(html, /<tr><th>n<\/th><td>2<\/td><td>2<\/td><td>2<\/td><td>2<\/td><\/tr>/);
    assert.match(
      html,
      /<tr><th>mean<\/th><td>71\.00<\/td><td>90\.00<\/td><td>69\.00<\/td><td>89\.00<\/td><\/tr>/,
    );
    assert.match(
      html,
      /<tr><th>sd<\/th><td>1\.41<\/td><td>0\.00<\/td><td>1\.41<\/td><td>0\.00<\/td><\/tr>/,
    );
    assert.ok(html.includes(`<td>${formatSpread(summary.acc1!)}</td>`));
    assert.ok(html.includes(`<th>EMA Acc@1</th><td>${formatSpread(summary.emaAcc1!)}</td>`));
    assert.match(html, /<th>failed<\/th><td>1 \(not in the summary\)<\/td>/);
  });
});
