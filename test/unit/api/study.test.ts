import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { InputError } from '../../../common/errors.js';
import {
  expandStudy,
  gridCombinations,
  parseTrainingStudy,
  screeningRunSpec,
} from '../../../api/study-load.js';
import { keepBest, screeningScore } from '../../../api/study-screening.js';
import { ExitCode } from '../../../api/names.js';
import type { SeedRunStatus } from '../../../api/status.js';

const root = join(import.meta.dirname, '..', '..', '..');

/** A study manifest around a small base; `spec` fields override. */
function study(spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'TrainingStudy',
    metadata: { name: 's' },
    spec: {
      base: {
        recipe: {
          model: 'resnet_mini',
          epochs: 4,
          lrWarmupEpochs: 2,
          seed: 7,
          labelSmoothing: 0,
          autoAugment: 'none',
        },
        data: { train: 'synthetic:tiny', val: 'synthetic:tiny' },
        output: '/runs/s',
      },
      ...spec,
    },
  };
}

function issuesOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InputError, String(err));
    return [...err.issues];
  }
  assert.fail('accepted');
}

describe('TrainingStudy: expansion', () => {
  it('a ladder is cumulative: row k = base + patches 1..k, row 0 the base', () => {
    const { variants } = parseTrainingStudy(
      study({
        steps: [
          { name: 'ls', patch: { labelSmoothing: 0.1 } },
          { name: 'ta', patch: { autoAugment: 'ta_wide' } },
          { name: 'ls-off', patch: { labelSmoothing: 0 } },
        ],
        seeds: [0, 1, 2],
      }),
    );
    assert.deepEqual(
      variants.map((v) => [v.index, v.name, v.slug]),
      [
        [0, 'baseline', '00-baseline'],
        [1, 'ls', '01-ls'],
        [2, 'ta', '02-ta'],
        [3, 'ls-off', '03-ls-off'],
      ],
    );
    assert.deepEqual(
      variants.map((v) => [v.spec.recipe.labelSmoothing, v.spec.recipe.autoAugment]),
      [
        [0, 'none'],
        [0.1, 'none'],
        [0.1, 'ta_wide'],
        [0, 'ta_wide'],
      ],
    );
    assert.deepEqual(variants[3]!.patch, { labelSmoothing: 0, autoAugment: 'ta_wide' });
    for (const v of variants) {
      assert.deepEqual(v.spec.seeds, [0, 1, 2]);
      assert.equal(v.spec.output, `/runs/s/${v.slug}`);
      assert.equal(v.spec.recipe.model, 'resnet_mini');
    }
  });

  it('each patch changes only what it names, on top of the row before', () => {
    const { variants } = parseTrainingStudy(
      study({
        base: {
          recipe: {
            model: 'resnet_mini',
            epochs: 4,
            lrWarmupEpochs: 0,
            autoAugment: 'none',
            labelSmoothing: 0,
          },
          data: { train: 'synthetic:tiny', val: 'synthetic:tiny' },
          output: '/runs/s',
        },
        steps: [
          { name: 'ls', patch: { labelSmoothing: 0.1 } },
          { name: 'ta', patch: { autoAugment: 'ta_wide' } },
        ],
      }),
    );
    const diff = (a: object, b: object) =>
      Object.keys(a).filter((k) => (a as any)[k] !== (b as any)[k]);
    assert.deepEqual(diff(variants[0]!.spec.recipe, variants[1]!.spec.recipe), ['labelSmoothing']);
    assert.deepEqual(diff(variants[1]!.spec.recipe, variants[2]!.spec.recipe), ['autoAugment']);
  });

  it('seeds default to the base recipe’s seed, parallelism to the base’s', () => {
    const { variants } = parseTrainingStudy(study({ steps: [{ name: 'a', patch: { lr: 0.2 } }] }));
    assert.deepEqual(variants[1]!.spec.seeds, [7]);
    assert.equal(variants[1]!.spec.parallelism, 1);
  });

  it('a grid is the cartesian product, fields in recipe order, the first slowest', () => {
    const combos = gridCombinations({ mixupAlpha: [0, 0.2], lr: [0.1, 0.5, 1] });
    // lr comes before mixupAlpha in spec.recipe, whatever the order written.
    assert.deepEqual(combos, [
      { lr: 0.1, mixupAlpha: 0 },
      { lr: 0.1, mixupAlpha: 0.2 },
      { lr: 0.5, mixupAlpha: 0 },
      { lr: 0.5, mixupAlpha: 0.2 },
      { lr: 1, mixupAlpha: 0 },
      { lr: 1, mixupAlpha: 0.2 },
    ]);
    const { variants } = parseTrainingStudy(
      study({ grid: { mixupAlpha: [0, 0.2], lr: [0.1, 0.5] }, seeds: [1, 2] }),
    );
    assert.deepEqual(
      variants.map((v) => [v.name, v.slug, v.spec.recipe.lr, v.spec.recipe.mixupAlpha]),
      [
        ['lr=0.1,mixupAlpha=0', '00', 0.1, 0],
        ['lr=0.1,mixupAlpha=0.2', '01', 0.1, 0.2],
        ['lr=0.5,mixupAlpha=0', '02', 0.5, 0],
        ['lr=0.5,mixupAlpha=0.2', '03', 0.5, 0.2],
      ],
    );
  });

  it('a screening run is the variant compressed to screenEpochs, warmup below it, under screen/', () => {
    const parsed = parseTrainingStudy(
      study({ grid: { lr: [0.1, 0.2, 0.3] }, screening: { screenEpochs: 2, keep: 1 } }),
    );
    const s = screeningRunSpec(parsed.spec, parsed.variants[1]!, parsed.spec.screening!);
    assert.equal(s.recipe.epochs, 2);
    assert.equal(s.recipe.lrWarmupEpochs, 1);
    assert.equal(s.recipe.lr, 0.2);
    assert.equal(s.output, '/runs/s/screen/01');
    assert.equal(parsed.variants[1]!.spec.recipe.epochs, 4, 'the full run is untouched');
  });
});

describe('TrainingStudy: screening chooses the best k', () => {
  const seed = (phase: string, m: Record<string, number>): SeedRunStatus =>
    ({ seed: 0, phase, metrics: m }) as SeedRunStatus;

  it('scores by the mean EMA Acc@1 of the succeeded seeds, Acc@1 without EMA', () => {
    assert.equal(
      screeningScore([
        seed('Succeeded', { acc1: 1, emaAcc1: 10 }),
        seed('Succeeded', { acc1: 2, emaAcc1: 20 }),
        seed('Failed', { acc1: 99, emaAcc1: 99 }),
      ]),
      15,
    );
    assert.equal(screeningScore([seed('Succeeded', { acc1: 4 })]), 4);
    assert.equal(screeningScore([seed('Failed', { acc1: 4 })]), undefined);
  });

  it('keeps the k highest, ties to the earlier row, never a row without a score, in row order', () => {
    assert.deepEqual(keepBest([5, 9, undefined, 9, 7], 2), [1, 3]);
    assert.deepEqual(keepBest([5, 9, undefined, 9, 7], 3), [1, 3, 4]);
    assert.deepEqual(keepBest([undefined, 1], 2), [1]);
  });
});

describe('TrainingStudy: bad input names the field', () => {
  it('a step patching an unknown recipe field', () => {
    const issues = issuesOf(() =>
      parseTrainingStudy(
        study({
          steps: [
            { name: 'a', patch: { lr: 0.2 } },
            { name: 'b', patch: { lrr: 0.1 } },
          ],
        }),
      ),
    );
    assert.deepEqual(issues, [{ path: 'spec.steps[1].patch.lrr', message: 'unknown field' }]);
  });

  it('a grid over an unknown field, an out-of-range value, an empty patch', () => {
    assert.deepEqual(
      issuesOf(() => parseTrainingStudy(study({ grid: { learningRate: [0.1] } }))).map(
        (i) => i.path,
      ),
      ['spec.grid.learningRate'],
    );
    const range = issuesOf(() =>
      parseTrainingStudy(study({ steps: [{ name: 'a', patch: { labelSmoothing: 2 } }] })),
    );
    assert.equal(range[0]!.path, 'spec.steps[0].patch.labelSmoothing');
    assert.match(range[0]!.message, /< 1/);
    assert.ok(
      issuesOf(() => parseTrainingStudy(study({ steps: [{ name: 'a', patch: {} }] }))).some(
        (i) => i.path === 'spec.steps[0].patch',
      ),
    );
  });

  it('a patch that breaks a cross-field rule names the step and the rule', () => {
    // warmup 2 of 4 epochs in the base; a step cutting epochs to 2 breaks lrWarmupEpochs < epochs.
    const issues = issuesOf(() =>
      parseTrainingStudy(study({ steps: [{ name: 'short', patch: { epochs: 2 } }] })),
    );
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.path, 'spec.steps[0].patch.lrWarmupEpochs');
    assert.match(
      issues[0]!.message,
      /^row "short": recipe\.lrWarmupEpochs lrWarmupEpochs must be < epochs/,
    );
  });

  it('both steps and grid, neither, duplicate names, keep ≥ variants, too many variants', () => {
    const paths = (spec: Record<string, unknown>) =>
      issuesOf(() => parseTrainingStudy(study(spec))).map((i) => `${i.path}: ${i.message}`);
    assert.match(
      paths({ steps: [{ name: 'a', patch: { lr: 0.2 } }], grid: { lr: [1] } })[0]!,
      /^spec: give either steps/,
    );
    assert.match(paths({})[0]!, /^spec: give either steps/);
    assert.match(
      paths({
        steps: [
          { name: 'a', patch: { lr: 0.2 } },
          { name: 'a', patch: { lr: 0.3 } },
        ],
      })[0]!,
      /^spec\.steps\[1\]\.name: "a" names two rows/,
    );
    assert.match(
      paths({ steps: [{ name: 'baseline', patch: { lr: 0.2 } }] })[0]!,
      /^spec\.steps\[0\]\.name: "baseline" names two rows/,
    );
    assert.match(
      paths({ grid: { lr: [0.1, 0.2] }, screening: { screenEpochs: 1, keep: 2 } })[0]!,
      /^spec\.screening\.keep: must be < the number of variants \(2\)/,
    );
    const many = Array.from({ length: 9 }, (_, i) => 0.1 * (i + 1));
    assert.match(
      paths({ grid: { lr: many, momentum: many } })[0]!,
      /^spec\.grid: makes 81 variants; at most 64/,
    );
  });

  it('`ringmaster study BAD.yaml --local` exits 2, names the field and writes nothing', function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'study-bad-'));
    const file = join(dir, 'bad.yaml');
    const out = join(dir, 'out');
    const m = study({ steps: [{ name: 'a', patch: { lrr: 0.1 } }] });
    (m.spec as any).base.output = out;
    writeFileSync(file, stringify(m));
    const r = spawnSync(
      process.execPath,
      [join(root, 'bin', 'ringmaster.js'), 'study', file, '--local'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, ExitCode.invalidInput, r.stderr);
    assert.match(r.stderr, /spec\.steps\[0\]\.patch\.lrr: unknown field/);
    assert.equal(existsSync(out), false);
  });
});

describe('TrainingStudy: expandStudy is what parseTrainingStudy returns', () => {
  it('same rows from the parsed spec', () => {
    const parsed = parseTrainingStudy(study({ steps: [{ name: 'a', patch: { lr: 0.2 } }] }));
    assert.deepEqual(expandStudy(parsed.spec), parsed.variants);
  });
});
