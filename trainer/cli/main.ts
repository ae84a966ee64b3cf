import { Command, CommanderError } from 'commander';
import { ExitCode } from '../../api/names.js';
import { describeError, exitCodeOf } from '../../common/errors.js';
import { commands } from './commands.js';

const program = new Command('ringmaster')
  .description('Serverless multi-node training of torchvision ResNets on Kubernetes')
  .showHelpAfterError()
  .exitOverride();

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.invalidInput;
  } else {
    process.stderr.write(`ringmaster: ${describeError(err)}\n`);
    process.exitCode = exitCodeOf(err);
  }
}
