import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainingRecipe } from '../../../api/load.js';
import { ExitCode, SEEDS_FILE } from '../../../api/names.js';
import {
  formatSpread,
  seedOutput,
  seedRunSpec,
  seedsOf,
  summarizeSeeds,
} from '../../../api/seeds.js';
import { InputError, RetryableError } from '../../../common/errors.js';
import { describe as describeValues, median } from '../../../common/stats.js';
import { parseIntList } from '../../../common/parse.js';
import type { LaunchOptions } from '../../../trainer/local/launcher.js';
import type { RunSummary } from '../../../trainer/local/messages.js';
import { runSeeds, SeedsFailedError } from '../../../trainer/local/seeds.js';
import { formatSeedTable } from '../../../trainer/report/seeds.js';

const spec = (extra: Record<string, unknown> = {}) =>
  parseTrainingRecipe({
    data: { train: '/d/train', val: '/d/val' },
    output: '/runs/r/',
    recipe: { seed: 7 },
    ...extra,
  }).spec;

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} is not within ${tol} of ${b}`);

describe('seeds: statistics', () => {
  it('median of odd and even counts; describe gives n, mean, sd, median, min, max', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
    const d = describeValues([80.2, 80.0, 80.1, 80.5]);
    assert.equal(d.n, 4);
    close(d.mean, 80.2);
    // deviations .0, −.2, −.1, .3: ss = .14, s² = .14/3
    close(d.sd, Math.sqrt(0.14 / 3), 1e-12);
    close(d.median, 80.15);
    assert.equal(d.min, 80.0);
    assert.equal(d.max, 80.5);
    assert.ok(Number.isNaN(describeValues([1]).sd));
  });
});

describe('seeds: the spec', () => {
  it('seedsOf is spec.seeds, else the recipe seed; parallelism defaults to 1', () => {
    assert.deepEqual(seedsOf(spec()), [7]);
    assert.equal(spec().parallelism, 1);
    assert.deepEqual(seedsOf(spec({ seeds: [0, 1, 2] })), [0, 1, 2]);
  });

  it("each seed's run: its seed, <output>/seed-<n>, no seeds of its own", () => {
    const s = spec({ seeds: [0, 3], parallelism: 2 });
    const run = seedRunSpec(s, 3);
    assert.equal(run.recipe.seed, 3);
    assert.equal(run.output, '/runs/r/seed-3');
    assert.equal(run.seeds, undefined);
    assert.equal(run.parallelism, 1);
    // The run is a valid recipe on its own, and the rest of the spec is unchanged.
    assert.deepEqual(parseTrainingRecipe(run).spec, run);
    assert.deepEqual({ ...run.recipe, seed: 7 }, s.recipe);
    assert.equal(seedOutput('s3://b/p', 12), 's3://b/p/seed-12');
  });

  it('refuses repeated seeds and more than 64', () => {
    assert.throws(
      () => spec({ seeds: [1, 1] }),
      (e: InputError) =>
        e.issues.some((i) => i.path === 'spec.seeds' && /must be distinct/.test(i.message)),
    );
    assert.throws(
      () => spec({ seeds: Array.from({ length: 65 }, (_, i) => i) }),
      (e: InputError) => e.issues.some((i) => i.path === 'spec.seeds'),
    );
    assert.throws(() => spec({ seeds: [] }), InputError);
  });

  it('--seeds parses distinct non-negative integers and names the flag otherwise', () => {
    assert.deepEqual(parseIntList('0, 1,2', { name: '--seeds', min: 0 }), {
      ok: true,
      value: [0, 1, 2],
    });
    const rep = parseIntList('0,1,0', { name: '--seeds', min: 0 });
    assert.ok(!rep.ok && rep.issue.path === '--seeds' && /0 repeats/.test(rep.issue.message));
    const neg = parseIntList('0,-1', { name: '--seeds', min: 0 });
    assert.ok(!neg.ok && /non-negative integer/.test(neg.issue.message), JSON.stringify(neg));
    assert.ok(!parseIntList('0,,1', { name: '--seeds', min: 0 }).ok);
  });
});

describe('seeds: the summary', () => {
  const ok = (seed: number, acc1: number, emaAcc1?: number) => ({
    seed,
    ok: true,
    metrics: { acc1, acc5: acc1 + 10, ...(emaAcc1 !== undefined ? { emaAcc1 } : {}) },
  });

  it('summarizes the seeds that succeeded and counts, never averages, a failed one', () => {
    const s = summarizeSeeds([
      ok(0, 80.0, 80.1),
      { seed: 1, ok: false, message: 'rank 1 failed' },
      ok(2, 80.2, 80.3),
      ok(3, 80.4, 80.2),
    ]);
    assert.equal(s.n, 3);
    assert.equal(s.failed, 1);
    close(s.acc1!.mean, 80.2);
    close(s.acc1!.sd!, 0.2);
    close(s.acc5!.median, 90.2);
    assert.equal(s.emaAcc1!.min, 80.1);
    assert.equal(s.emaAcc1!.max, 80.3);
    assert.equal(s.emaAcc5, undefined, 'no run reported EMA Acc@5');
    assert.equal(s.headline, '80.20 ± 0.10 (3)');
  });

  it('headline falls back to Acc@1 without an EMA, and drops sd for one seed', () => {
    const s = summarizeSeeds([ok(0, 71.234)]);
    assert.equal(s.headline, '71.23 (1)');
    assert.equal(s.acc1!.sd, undefined);
    assert.equal(
      formatSpread({ n: 2, mean: 1, sd: 0.5, median: 1, min: 0.5, max: 1.5 }),
      '1.00 ± 0.50 (2)',
    );
    assert.deepEqual(summarizeSeeds([]), { n: 0, failed: 0 });
  });

  it('the table lists each seed, the failed one by its message, and the statistics', () => {
    const runs = [
      { seed: 0, phase: 'Succeeded' as const, metrics: { acc1: 50, acc5: 60 } },
      { seed: 1, phase: 'Failed' as const, message: 'rank 0 failed (exit code 75)' },
      { seed: 2, phase: 'Succeeded' as const, metrics: { acc1: 52, acc5: 62 } },
    ];
    const text = formatSeedTable(
      runs,
      summarizeSeeds([ok(0, 50), { seed: 1, ok: false }, ok(2, 52)]),
    );
    assert.match(text, /^ {6}1 │ {2}Failed: rank 0 failed \(exit code 75\)$/m);
    assert.match(text, /^ {3}mean │ {5}51\.00 {5}61\.00 {7}n\/a {7}n\/a$/m);
    assert.match(text, /^ {5}sd │ {6}1\.41/m);
    assert.match(text, /^ {6}n │ {9}2 {9}2 {9}0 {9}0$/m);
    assert.match(text, /1 seed\(s\) failed and are not in the figures/);
  });
});

describe('seeds: local runs (fake launcher)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-seeds-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));
  const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  const summary = (acc1: number): RunSummary => ({
    acc1,
    acc5: 99,
    emaAcc1: acc1 + 1,
    emaAcc5: 99.5,
    weights: 'w',
    report: null,
    epochs: 1,
    seconds: 1,
  });
  const base = (output: string) => ({
    spec: spec({ output, seeds: [0, 1, 2, 3] }),
    workers: 1,
    maxRestarts: 0,
    cacheDir: dir,
    allowRecipeChange: false,
    out: quiet,
  });

  it('runs at most `parallelism` seeds at once, each into its own output', async () => {
    let running = 0;
    let peak = 0;
    const seen: Array<{ seed: number; output: string }> = [];
    const launch = async (o: LaunchOptions) => {
      running++;
      peak = Math.max(peak, running);
      const r = o.spec.recipe as { seed: number };
      seen.push({ seed: r.seed, output: o.spec.output });
      await new Promise((res) => setTimeout(res, 20));
      running--;
      return summary(60 + r.seed);
    };
    const out = join(dir, 'parallel');
    const runs = await runSeeds({ ...base(out), seeds: [0, 1, 2, 3], parallelism: 2, launch });
    assert.equal(peak, 2);
    assert.deepEqual(
      seen.map((s) => s.output).sort(),
      [0, 1, 2, 3].map((n) => `${out}/seed-${n}`),
    );
    assert.equal(runs.summary.n, 4);
    close(runs.summary.acc1!.mean, 61.5);
    const file = JSON.parse(await readFile(join(out, SEEDS_FILE), 'utf8'));
    assert.deepEqual(file.summary, runs.summary);
    assert.deepEqual(
      file.seeds.map((s: { phase: string }) => s.phase),
      ['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded'],
    );
  });

  it('a seed that stays failed is reported, the others summarized, and the exit is non-zero', async () => {
    const out = join(dir, 'one-fails');
    const launch = async (o: LaunchOptions) => {
      const seed = (o.spec.recipe as { seed: number }).seed;
      if (seed === 1) throw new RetryableError('rank 0 failed (exit code 75) after 0 restart(s)');
      return summary(70 + seed);
    };
    const err = await runSeeds({ ...base(out), seeds: [0, 1, 2], parallelism: 1, launch }).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SeedsFailedError);
    assert.equal(err.exitCode, ExitCode.retryable);
    const { summary: s, seeds } = err.runs;
    assert.equal(s.n, 2);
    assert.equal(s.failed, 1);
    close(s.acc1!.mean, 71); // seeds 0 and 2: 70 and 72, not 71 with seed 1
    assert.equal(seeds[1]!.phase, 'Failed');
    assert.match(seeds[1]!.message!, /exit code 75/);
  });

  it('an invalid recipe stops the remaining seeds', async () => {
    const out = join(dir, 'invalid');
    let calls = 0;
    const launch = async () => {
      calls++;
      throw new InputError('bad data URI');
    };
    await assert.rejects(
      runSeeds({ ...base(out), seeds: [0, 1, 2], parallelism: 1, launch }),
      (e: InputError) => e.exitCode === ExitCode.invalidInput,
    );
    assert.equal(calls, 1);
    const file = JSON.parse(await readFile(join(out, SEEDS_FILE), 'utf8'));
    assert.deepEqual(
      file.seeds.map((s: { phase: string }) => s.phase),
      ['Failed', 'Pending', 'Pending'],
    );
  });
});
