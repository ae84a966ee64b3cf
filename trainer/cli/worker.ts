import type { Command } from 'commander';
import { intFlag } from '../../common/parse.js';
import { describeError, exitCodeOf } from '../../common/errors.js';
import { log } from '../../common/log.js';
import { loadTrainingRecipeFile } from '../../api/load.js';
import { evalRun } from '../eval-run.js';
import { train } from '../train.js';
import { StoppedError } from '../train-one-epoch.js';
import { workerConfigFromEnv } from '../worker-config.js';
import { reportFailure } from './termination.js';

/**
 * `ringmaster worker`: one rank of a training group (or of an eval-only recipe's group), configured by RINGMASTER_* variables
 * (the operator sets them in pods; the local launcher sets them for its processes).
 * SIGINT/SIGTERM (Ctrl-C, preemption, pod deletion) stop the group at the next step after a
 * checkpoint; the exit code tells the operator whether a restart can help.
 */
export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'run one rank of a training group (configured by RINGMASTER_* environment variables)',
    )
    .option(
      '--loader-threads <n>',
      'decode threads per rank (default: spec.dataLoader.workers, else from the CPU share)',
      intFlag('--loader-threads', { min: 0 }),
    )
    .action(async (opts: { loaderThreads?: number }) => {
      const cfg = workerConfigFromEnv(process.env);
      const { spec, metadata } = await loadTrainingRecipeFile(cfg.recipePath);
      const stop = { requested: false };
      const onSignal = (signal: NodeJS.Signals) => {
        if (stop.requested) return;
        stop.requested = true;
        log.warn(
          {
            signal,
            rank: cfg.rank,
            ...(cfg.terminationGraceSeconds ? { graceSeconds: cfg.terminationGraceSeconds } : {}),
          },
          'stop requested: finishing the step and writing a checkpoint',
        );
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const recipeLog = log.child({ recipe: metadata.name ?? 'recipe' });
        // spec.mode eval: the same pods and ring, but the ranks only score weights.
        if (spec.mode === 'eval') {
          await evalRun({ cfg, spec, log: recipeLog, loaderThreads: opts.loaderThreads });
        } else {
          await train({ cfg, spec, log: recipeLog, stop, loaderThreads: opts.loaderThreads });
        }
      } catch (err) {
        if (err instanceof StoppedError) log.info({ rank: cfg.rank }, err.message);
        else {
          log.error(
            { rank: cfg.rank, err: describeError(err), exitCode: exitCodeOf(err) },
            'worker failed',
          );
        }
        process.exitCode = exitCodeOf(err);
        reportFailure(err, cfg.rank, cfg.terminationLog);
        // A failed rank must exit (the operator reads its exit code), even if sockets or
        // worker threads would keep the process alive.
        setTimeout(() => process.exit(process.exitCode ?? 1), 2000).unref();
        return;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      // Worker threads and sockets must not keep a finished rank alive.
      setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
    });
}
