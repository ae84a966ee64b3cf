/**
 * Integer and duration flags go through the one parser (common/parse.ts): a bad value
 * fails with an InputError (exit 2) that names the flag, before the command runs.
 */
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { InputError } from '../../../common/errors.js';
import { commands } from '../../../trainer/cli/commands.js';

function program(): Command {
  const p = new Command('ringmaster').exitOverride();
  for (const register of commands) register(p);
  return p;
}

async function flagError(...argv: string[]): Promise<InputError> {
  try {
    await program().parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  assert.fail(`${argv.join(' ')} was accepted`);
}

describe('cli: integer and duration flags', () => {
  const cases: [string[], string][] = [
    [['train', 'r.yaml', '--local', '--workers', '0'], '--workers'],
    [['train', 'r.yaml', '--local', '--workers', '2.5'], '--workers'],
    [['train', 'r.yaml', '--local', '--restarts', '-1'], '--restarts'],
    [['train', 'r.yaml', '--local', '--op-timeout', '0'], '--op-timeout'],
    [['train', 'r.yaml', '--local', '--op-timeout', 'soon'], '--op-timeout'],
    [['worker', '--loader-threads', 'two'], '--loader-threads'],
    [['pack', 'src', 'dest', '--samples-per-shard', '0'], '--samples-per-shard'],
    [['dataset', 'synthetic', 'dest', '--size', '4'], '--size'],
    [['dataset', 'fashion-mnist', 'dest', '--limit', '1e3'], '--limit'],
  ];
  for (const [argv, flag] of cases) {
    it(`${argv.slice(0, 1).concat(argv.slice(-2)).join(' ')} is refused, naming ${flag}`, async () => {
      const e = await flagError(...argv);
      assert.equal(e.exitCode, 2);
      assert.equal(e.issues[0]?.path, flag);
    });
  }

  it('--op-timeout takes milliseconds or a unit; --workers a positive integer', async () => {
    const p = program();
    // Without --local the command refuses to run, after its flags were parsed.
    await assert.rejects(
      p.parseAsync(['train', 'r.yaml', '--workers', '3', '--op-timeout', '90s'], { from: 'user' }),
      /runs locally only/,
    );
    const train = p.commands.find((c) => c.name() === 'train')!;
    assert.equal(train.opts().workers, 3);
    assert.equal(train.opts().opTimeout, 90_000);
  });
});
