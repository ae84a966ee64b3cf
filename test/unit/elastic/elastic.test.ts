/** The elastic size rule (api/elastic.ts) and how a bad range is reported. */
import assert from 'node:assert/strict';
import {
  accumulationSteps,
  feasibleSizes,
  isFeasibleSize,
  largestFeasibleSize,
  virtualRanksOf,
} from '../../../api/elastic.js';
import { parseTrainingRecipe } from '../../../api/load.js';
import { InputError } from '../../../common/errors.js';

describe('elastic sizes', () => {
  it('a size is feasible when it divides spec.workers', () => {
    assert.deepEqual(feasibleSizes(8, { minWorkers: 1, maxWorkers: 8 }), [1, 2, 4, 8]);
    assert.deepEqual(feasibleSizes(6, { minWorkers: 2, maxWorkers: 6 }), [2, 3, 6]);
    assert.deepEqual(feasibleSizes(8, { minWorkers: 3, maxWorkers: 7 }), [4]);
    assert.equal(isFeasibleSize(8, 16), false);
    assert.equal(isFeasibleSize(8, 0), false);
  });

  it('pod r of w runs original ranks r·k … r·k+k−1', () => {
    assert.equal(accumulationSteps(8, 2), 4);
    assert.deepEqual(virtualRanksOf(8, 2, 1), [4, 5, 6, 7]);
    assert.deepEqual(virtualRanksOf(2, 1, 0), [0, 1]);
    assert.deepEqual(virtualRanksOf(4, 4, 3), [3]);
    assert.throws(
      () => accumulationSteps(8, 3),
      (e: unknown) => {
        assert.ok(e instanceof InputError);
        assert.match(e.issues[0]!.message, /1, 2, 4, 8/);
        return true;
      },
    );
  });

  it('the largest feasible size that fits the capacity, never below minWorkers', () => {
    const range = { minWorkers: 2, maxWorkers: 8 };
    assert.equal(largestFeasibleSize(8, range, 7), 4);
    assert.equal(largestFeasibleSize(8, range, 8), 8);
    assert.equal(largestFeasibleSize(8, range, 3), 2);
    assert.equal(largestFeasibleSize(8, range, 1), null);
  });

  it('a range without a size that keeps the global batch names the sizes that work', () => {
    assert.throws(
      () =>
        parseTrainingRecipe({
          workers: 8,
          data: { train: 's3://b/t', val: 's3://b/v' },
          output: 's3://b/o',
          runPolicy: { elastic: { minWorkers: 3, maxWorkers: 6 } },
        }),
      (e: unknown) => {
        assert.ok(e instanceof InputError);
        const issue = e.issues.find((i) => i.path === 'spec.runPolicy.elastic');
        assert.ok(issue, JSON.stringify(e.issues));
        assert.match(issue.message, /sizes that work: 1, 2, 4, 8/);
        return true;
      },
    );
  });
});
