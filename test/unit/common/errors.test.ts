import assert from 'node:assert/strict';
import { ExitCode } from '../../../api/names.js';
import { describeError, exitCodeOf, InputError, RetryableError } from '../../../common/errors.js';

describe('errors', () => {
  it('maps typed errors to exit codes the operator can act on', () => {
    assert.equal(exitCodeOf(new InputError('bad')), ExitCode.invalidInput);
    assert.equal(exitCodeOf(new RetryableError('peer gone')), ExitCode.retryable);
    assert.equal(exitCodeOf(new Error('bug')), ExitCode.internal);
  });

  it('lists every issue of an input error by path', () => {
    const text = describeError(
      new InputError('invalid recipe', [
        { path: 'spec.recipe.lr', message: 'must be > 0' },
        { path: 'spec.workers', message: 'must be an integer' },
      ]),
    );
    assert.match(text, /spec\.recipe\.lr: must be > 0/);
    assert.match(text, /spec\.workers: must be an integer/);
  });
});
