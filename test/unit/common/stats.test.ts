import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  incompleteBeta,
  logGamma,
  mean,
  sampleSd,
  tCdf,
  tQuantile,
  welch,
  welchInterval,
} from '../../../common/stats.js';
import type { SeedResult, SideResult } from '../../../bench/learning/summary.js';
import {
  emaRatio,
  formatSummary,
  parseSeeds,
  sideResult,
  summarize,
  summaryJson,
} from '../../../bench/learning/summary.js';

const close = (actual: number, expected: number, tol: number, what = '') =>
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what} ${actual} is not within ${tol} of ${expected}`,
  );

// docs/learning.md, six seeds per side, EMA Acc@1 after 6 epochs.
const TORCH_EMA = [48.4, 46.9, 53.65, 46.2, 52.95, 40.6];
const RM_EMA = [45.15, 45.6, 52.45, 42.55, 50.6, 43.4];

describe('common/stats (shared with bench/learning)', () => {
  it('mean and sample sd (n − 1)', () => {
    assert.equal(mean([1, 2, 3, 4]), 2.5);
    // ((1.5² + 0.5²) · 2) / 3 = 5/3
    close(sampleSd([1, 2, 3, 4]), Math.sqrt(5 / 3), 1e-14);
    close(sampleSd([2, 4, 6]), 2, 1e-14);
    assert.ok(Number.isNaN(mean([])));
    assert.ok(Number.isNaN(sampleSd([7])));
    close(mean(TORCH_EMA), 48.116666666666667, 1e-12);
    close(sampleSd(TORCH_EMA), 4.810682557253873, 1e-12);
    close(sampleSd(RM_EMA), 3.9990936473156036, 1e-12);
  });

  it("Welch's t and Welch–Satterthwaite df against hand-computed values", () => {
    // a: mean 2.5, s² 5/3, s²/n 5/12; b: mean 4, s² 4, s²/n 4/3.
    // se = sqrt(5/12 + 4/3) = sqrt(1.75); df = 1.75² / ((5/12)²/3 + (4/3)²/2).
    const w = welch([1, 2, 3, 4], [2, 4, 6]);
    close(w.diff, -1.5, 1e-14);
    close(w.se, Math.sqrt(1.75), 1e-14);
    close(w.t, -1.5 / Math.sqrt(1.75), 1e-12);
    close(w.df, 1.75 ** 2 / ((5 / 12) ** 2 / 3 + (4 / 3) ** 2 / 2), 1e-12);
    close(w.df, 3.234718826405868, 1e-12);
    // The figures quoted in docs/learning.md.
    const d = welch(RM_EMA, TORCH_EMA);
    close(d.t, -0.584066677201859, 1e-12);
    close(d.df, 9.676999816617238, 1e-12);
    // Swapping the sides flips the sign only.
    const s = welch(TORCH_EMA, RM_EMA);
    close(s.t, -d.t, 1e-14);
    close(s.df, d.df, 1e-12);
  });

  it('Welch is undefined without spread or with one value per side', () => {
    assert.ok(Number.isNaN(welch([1, 1, 1], [2, 2]).t));
    assert.ok(Number.isNaN(welch([1], [2, 3]).df));
    assert.ok(Number.isNaN(welchInterval([1], [2, 3]).halfWidth));
  });

  it('log Γ and the regularized incomplete beta', () => {
    close(logGamma(1), 0, 1e-13);
    close(logGamma(0.5), Math.log(Math.sqrt(Math.PI)), 1e-13);
    close(logGamma(10), Math.log(362880), 1e-12);
    close(logGamma(0.1), Math.log(9.513507698668732), 1e-12);
    // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b; I_0.5(a, a) = 0.5.
    close(incompleteBeta(0.3, 1, 1), 0.3, 1e-13);
    close(incompleteBeta(0.7, 3.5, 1), 0.7 ** 3.5, 1e-13);
    close(incompleteBeta(0.2, 1, 4), 1 - 0.8 ** 4, 1e-13);
    close(incompleteBeta(0.5, 7.25, 7.25), 0.5, 1e-13);
  });

  it('t CDF matches the closed forms for df 1 (Cauchy) and 2', () => {
    fc.assert(
      fc.property(fc.double({ min: -50, max: 50, noNaN: true }), (t) => {
        close(tCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-12, `df 1 at ${t}`);
        close(tCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-12, `df 2 at ${t}`);
      }),
    );
  });

  it('t quantiles match the tables', () => {
    close(tQuantile(0.975, 10), 2.228139, 1e-6);
    close(tQuantile(0.975, 5), 2.570582, 1e-6);
    close(tQuantile(0.975, 30), 2.042272, 1e-6);
    close(tQuantile(0.975, 1), 12.706205, 1e-6);
    close(tQuantile(0.975, 2), 0.95 / Math.sqrt(2 * 0.975 * 0.025), 1e-9);
    close(tQuantile(0.995, 3), 5.840909, 1e-6);
    close(tQuantile(0.95, 20), 1.724718, 1e-6);
    close(tQuantile(0.9, 4), 1.533206, 1e-6);
    // Large df: the normal quantile.
    close(tQuantile(0.975, 1e7), 1.959964, 1e-5);
    close(tQuantile(0.025, 10), -2.228139, 1e-6);
    assert.equal(tQuantile(0.5, 3), 0);
    assert.ok(Number.isNaN(tQuantile(1, 3)));
    assert.ok(Number.isNaN(tQuantile(0.975, 0)));
    // Non-integer df (Welch) lies between its integer neighbours.
    const q = tQuantile(0.975, 9.677);
    assert.ok(q < tQuantile(0.975, 9) && q > tQuantile(0.975, 10), String(q));
  });

  it('t quantile inverts the CDF', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.001, max: 0.999, noNaN: true }),
        fc.double({ min: 0.5, max: 200, noNaN: true }),
        (p, df) => close(tCdf(tQuantile(p, df), df), p, 1e-9, `p ${p} df ${df}`),
      ),
    );
  });

  it('95% interval of the difference of the means', () => {
    const ci = welchInterval([1, 2, 3, 4], [2, 4, 6]);
    const half = tQuantile(0.975, 3.234718826405868) * Math.sqrt(1.75);
    close(ci.diff, -1.5, 1e-14);
    close(ci.halfWidth, half, 1e-9);
    close(ci.lo, -1.5 - half, 1e-9);
    close(ci.hi, -1.5 + half, 1e-9);
    assert.ok(ci.halfWidth > 1.96 * Math.sqrt(1.75), 'wider than the normal interval at ~3 df');
    // docs/learning.md: −1.5 ± 5.7 points for the six seeds.
    const docs = welchInterval(RM_EMA, TORCH_EMA);
    close(docs.diff, -1.49, 0.01);
    close(docs.halfWidth, 5.7, 0.05);
    assert.equal(docs.level, 0.95);
    const ci90 = welchInterval(RM_EMA, TORCH_EMA, 0.9);
    assert.ok(ci90.halfWidth < docs.halfWidth);
  });
});

// docs/learning.md's six seeds per side (model Acc@1, EMA Acc@1, last-epoch loss).
const DOCS_TORCH: [number, number, number][] = [
  [52.6, 48.4, 1.833],
  [47.2, 46.9, 1.894],
  [51.5, 53.65, 1.933],
  [45.45, 46.2, 1.908],
  [50.55, 52.95, 1.918],
  [40.85, 40.6, 1.874],
];
const DOCS_RM: [number, number, number][] = [
  [42.9, 45.15, 1.895],
  [49.0, 45.6, 1.868],
  [49.05, 52.45, 1.851],
  [42.9, 42.55, 1.861],
  [49.35, 50.6, 1.81],
  [41.25, 43.4, 1.841],
];

const side = ([acc1, emaAcc1, trainLoss]: [number, number, number]): SideResult =>
  sideResult(
    [
      { epoch: 0, acc1: 10, emaAcc1: 9, trainLoss: 2.3 },
      { epoch: 1, acc1, emaAcc1, trainLoss },
    ],
    1,
  );

function docsSeeds(skip?: 'pytorch' | 'ringmaster'): SeedResult[] {
  return DOCS_TORCH.map((t, seed) => {
    const pytorch = skip === 'pytorch' ? null : side(t);
    const ringmaster = skip === 'ringmaster' ? null : side(DOCS_RM[seed]!);
    return {
      seed,
      dir: `/tmp/seed-${seed}`,
      pytorch,
      ringmaster,
      emaRatio: emaRatio(pytorch, ringmaster),
    };
  });
}

describe('bench/learning/summary', () => {
  it('parses BENCH_SEEDS / BENCH_SEED', () => {
    assert.deepEqual(parseSeeds(undefined, undefined), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(parseSeeds('', ''), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(parseSeeds('3, 7,11', undefined), [3, 7, 11]);
    assert.deepEqual(parseSeeds(undefined, '4'), [4]);
    assert.throws(() => parseSeeds('1,2', '3'), /not both/);
    assert.throws(() => parseSeeds('1,x', undefined), /BENCH_SEEDS must be/);
    assert.throws(() => parseSeeds('1,-2', undefined), /BENCH_SEEDS must be/);
    assert.throws(() => parseSeeds('1,,2', undefined), /BENCH_SEEDS must be/);
    assert.throws(() => parseSeeds('1,1', undefined), /repeats/);
    assert.throws(() => parseSeeds(undefined, '1,2'), /BENCH_SEEDS for a list/);
  });

  it('reproduces the six-seed figures of docs/learning.md', () => {
    const s = summarize(docsSeeds());
    close(s.pytorch!.emaAcc1.mean!, 48.12, 0.005);
    close(s.pytorch!.emaAcc1.sd!, 4.81, 0.005);
    close(s.ringmaster!.acc1.mean!, 45.74, 0.005);
    close(s.ringmaster!.acc1.sd!, 3.77, 0.005);
    close(s.ringmaster!.trainLoss.mean!, 1.854, 0.0005);
    close(s.ratio!, 0.969, 0.0005);
    close(s.comparison!.acc1.ratioOfMeans!, 0.952, 0.0005);
    close(s.comparison!.emaAcc1.t!, -0.584066677201859, 1e-12);
    close(s.comparison!.emaAcc1.df!, 9.676999816617238, 1e-12);
    close(s.comparison!.acc1.t!, -0.96, 0.005);
    close(s.comparison!.emaAcc1.ci95.halfWidth!, 5.7, 0.05);
    close(s.seeds[0]!.emaRatio!, 45.15 / 48.4, 1e-12);
    const text = formatSummary(s);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.at(-1), `ratio=${(46.625 / 48.11666666666667).toFixed(4)}`);
    assert.equal(lines.at(-1), 'ratio=0.9690');
    assert.match(text, /ratio of means: EMA Acc@1 0\.9690, Acc@1 0\.952\d/);
    assert.match(text, /EMA Acc@1: -1\.49 \(Welch t -0\.58, df 9\.7; 95% CI \[-7\.\d\d, 4\.\d\d\]/);
    assert.match(
      text,
      /\n {4}0 │  52\.60  48\.40  1\.833 │  42\.90  45\.15  1\.895 │    0\.9329\n/,
    );
  });

  it('with one side skipped: that side’s stats and ratio=n/a', () => {
    const s = summarize(docsSeeds('pytorch'));
    assert.equal(s.pytorch, null);
    assert.equal(s.comparison, null);
    assert.equal(s.ratio, null);
    close(s.ringmaster!.emaAcc1.mean!, 46.625, 1e-12);
    const text = formatSummary(s);
    assert.match(text, /pytorch {4}did not run/);
    assert.match(text, /ringmaster Acc@1 45\.74 ± 3\.77 \(n 6\)/);
    assert.equal(text.trimEnd().split('\n').at(-1), 'ratio=n/a (one side did not run)');
  });

  it('one seed: no sd or test, but a ratio; summary.json stays valid JSON', () => {
    const s = summarize(docsSeeds().slice(0, 1));
    assert.equal(s.pytorch!.emaAcc1.sd, null);
    assert.equal(s.comparison!.emaAcc1.t, null);
    close(s.ratio!, 45.15 / 48.4, 1e-12);
    assert.equal(formatSummary(s).trimEnd().split('\n').at(-1), 'ratio=0.9329');
    const json = JSON.parse(summaryJson(s, { seeds: [0] })) as {
      config: { seeds: number[] };
      ratio: number;
      comparison: { emaAcc1: { df: number | null } };
      seeds: { pytorch: { epochs: unknown[] } }[];
    };
    assert.deepEqual(json.config.seeds, [0]);
    assert.equal(json.comparison.emaAcc1.df, null);
    close(json.ratio, 45.15 / 48.4, 1e-12);
    assert.equal(json.seeds[0]!.pytorch.epochs.length, 2);
  });
});
