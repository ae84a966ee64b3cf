import assert from 'node:assert/strict';
import type { SeedRunStatus } from '../../../api/status.js';
import { InputError } from '../../../common/errors.js';
import {
  formatStudyMarkdown,
  formatStudyText,
  studyInputs,
  studyTable,
} from '../../../api/study-table.js';

const close = (a: number | null | undefined, b: number, tol: number) =>
  assert.ok(a !== null && a !== undefined && Math.abs(a - b) <= tol, `${a} vs ${b}`);

// docs/methodology.md's worked example: B is the row before, A the change.
const B = { name: 'baseline', acc1: [79.9, 80.01, 79.85], acc5: [95, 95.1, 94.9] };
const A = { name: 'ema', acc1: [80.12, 80.04, 80.2], acc5: [95.2, 95.3, 95.1] };

describe('study: the ablation table', () => {
  it('mean ± sd per row and Welch t, df and the 95% interval against the row above', () => {
    const [b, a] = studyTable([B, A]);
    assert.equal(b!.change, undefined);
    close(a!.acc1.mean, 80.12, 1e-9);
    close(a!.acc1.sd, 0.08, 1e-9);
    close(a!.change!.diff, 0.2, 1e-9);
    close(a!.change!.t, 3.0266, 1e-4);
    close(a!.change!.df, 3.998, 1e-3);
    close(a!.change!.lo, 0.0165, 1e-4);
    close(a!.change!.hi, 0.3835, 1e-4);
  });

  it('one seed per row: no sd and no t, said as n/a', () => {
    const rows = studyTable([
      { name: 'a', acc1: [70], acc5: [90] },
      { name: 'b', acc1: [71], acc5: [91] },
    ]);
    assert.equal(rows[1]!.acc1.sd, undefined);
    assert.equal(rows[1]!.change!.t, undefined);
    const text = formatStudyText(rows, 'model weights');
    assert.match(text, /^b {2,}1 {2,}71\.00 {2,}91\.00 {2,}\+1\.00 {2,}n\/a {2,}n\/a {2,}n\/a$/m);
  });

  it('a figure no seed reported (EMA Acc@5 not measured) is absent, printed n/a', () => {
    const rows = studyTable([
      { name: 'a', acc1: [70, 71], acc5: [NaN, NaN] },
      { name: 'b', acc1: [72, 73], acc5: [NaN, NaN] },
    ]);
    assert.equal(rows[0]!.acc5, undefined);
    assert.ok(!JSON.stringify(rows).includes('null'));
    assert.match(formatStudyText(rows, 'x'), /^b {2,}2 {2,}72\.50 ± 0\.71 {2,}n\/a /m);
  });

  it('prints text and Markdown', () => {
    const rows = studyTable([B, A]);
    const text = formatStudyText(rows, 'EMA weights');
    assert.match(
      text,
      /^ema {2,}3 {2,}80\.12 ± 0\.08 {2,}95\.20 ± 0\.10 {2,}\+0\.20 {2,}3\.03 {2,}4\.0 {2,}\[\+0\.02, \+0\.38\]$/m,
    );
    const md = formatStudyMarkdown(rows, 'EMA weights');
    assert.match(md, /^\| variant \| n \| Acc@1 \|/m);
    assert.match(
      md,
      /^\| ema \| 3 \| 80\.12 ± 0\.08 \| 95\.20 ± 0\.10 \| \+0\.20 \| 3\.03 \| 4\.0 \| \[\+0\.02, \+0\.38\] \|$/m,
    );
  });

  it('takes succeeded seeds only, EMA figures when every seed has them, else the model', () => {
    const seed = (s: number, phase: string, m?: Record<string, number>): SeedRunStatus =>
      ({ seed: s, phase, ...(m ? { metrics: m } : {}) }) as SeedRunStatus;
    const withEma = {
      name: 'x',
      source: 'x/seeds.json',
      seeds: [
        seed(0, 'Succeeded', { acc1: 1, acc5: 2, emaAcc1: 3, emaAcc5: 4 }),
        seed(1, 'Failed'),
      ],
    };
    const noEma = {
      name: 'y',
      source: 'y/seeds.json',
      seeds: [seed(0, 'Succeeded', { acc1: 5, acc5: 6 })],
    };
    const both = studyInputs([withEma, withEma], 'ema');
    assert.deepEqual(both.inputs[0], { name: 'x', acc1: [3], acc5: [4] });
    assert.match(both.caption, /^EMA/);
    const mixed = studyInputs([withEma, noEma], 'ema');
    assert.deepEqual(
      mixed.inputs.map((i) => i.acc1),
      [[1], [5]],
    );
    assert.match(mixed.caption, /model weights \(some seeds have no EMA/);
    assert.throws(
      () => studyInputs([{ name: 'z', source: 'z/seeds.json', seeds: [seed(0, 'Failed')] }], 'ema'),
      (e: InputError) => e.issues[0]?.path === 'z/seeds.json',
    );
  });
});
