import type { Command } from 'commander';
import { durationFlag, intFlag, intListFlag } from '../../common/parse.js';
import { InputError } from '../../common/errors.js';
import { launchLocal } from '../local/launcher.js';
import { runSeeds, SeedsFailedError } from '../local/seeds.js';
import { formatSeedTable } from '../report/seeds.js';
import { seedsOf } from '../../api/seeds.js';
import { MAX_SEEDS } from '../../api/schema.js';
import { loadTrainingRecipeFile } from '../../api/load.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import { prepareLocal, type LocalFlags } from './local-setup.js';

interface TrainFlags extends LocalFlags {
  local?: boolean;
  seeds?: number[];
  parallelism?: number;
  simulateLoss?: { atStep: number; forSteps: number };
}

/** `--simulate-loss STEP:STEPS` → lose the last worker at global step STEP, back after STEPS. */
function simulateLossFlag(value: string): { atStep: number; forSteps: number } {
  const m = /^(\d+):(\d+)$/.exec(value.trim());
  if (!m) {
    throw new InputError(`--simulate-loss must be STEP:STEPS (e.g. 6:4), got "${value}"`);
  }
  return { atStep: Number(m[1]), forSteps: Number(m[2]) };
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a recipe: --local runs the worker group as processes on this machine')
    .argument('<recipe>', 'TrainingRecipe YAML/JSON (manifest or bare spec)')
    .option('--local', 'run on this machine (workers on loopback, a local directory as the bucket)')
    .option(
      '--workers <n>',
      'worker processes (default: the recipe’s workers)',
      intFlag('--workers', { min: 1 }),
    )
    .option('--backend <name>', 'force a compute backend: tensorflow-gpu | tensorflow | wasm | cpu')
    .option(
      '--restarts <n>',
      'whole-group restarts after retryable failures',
      intFlag('--restarts', { min: 0 }),
      2,
    )
    .option(
      '--seeds <list>',
      'train once per seed, e.g. 0,1,2 (overrides spec.seeds); outputs <output>/seed-<n>/',
      intListFlag('--seeds', { min: 0, max: 4294967295 }),
    )
    .option(
      '--parallelism <n>',
      'seed runs at once (default: spec.parallelism)',
      intFlag('--parallelism', { min: 1, max: MAX_SEEDS }),
    )
    .option(
      '--simulate-loss <step:steps>',
      'elastic drill: lose the last worker at global step STEP, get it back STEPS steps later (needs runPolicy.elastic)',
      simulateLossFlag,
    )
    .option('--output <uri>', 'override the recipe’s output (local path or s3://bucket/prefix)')
    .option('--allow-recipe-change', 'resume from a checkpoint written by a different recipe')
    .option(
      '--op-timeout <ms>',
      'collective deadline per operation (milliseconds, or e.g. 90s, 2m)',
      durationFlag('--op-timeout', { min: 1 }),
      120_000,
    )
    .action(async (file: string, flags: TrainFlags) => {
      if (!flags.local) {
        throw new InputError(
          'ringmaster train runs locally only (--local); on Kubernetes apply the recipe: kubectl apply -f ' +
            file,
        );
      }
      const { spec } = await loadTrainingRecipeFile(file);
      const { resolved, launch } = await prepareLocal(spec, flags);
      process.stdout.write(
        `training ${spec.recipe.model} for ${spec.recipe.epochs} epochs on ${launch.workers} local worker(s); output ${resolved.output}\n`,
      );
      const seeds = flags.seeds ?? spec.seeds;
      if (seeds !== undefined) {
        if (seeds.length > MAX_SEEDS) {
          throw new InputError(`--seeds lists ${seeds.length} seeds; at most ${MAX_SEEDS}`);
        }
        await trainSeeds({ ...resolved, seeds }, flags.parallelism ?? spec.parallelism, launch);
        return;
      }
      const summary = await launchLocal({
        spec: resolved,
        ...launch,
        ...(flags.simulateLoss ? { simulateLoss: flags.simulateLoss } : {}),
      });
      const pct = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}%`);
      process.stdout.write(
        `\ndone in ${(summary.seconds / 60).toFixed(1)} min: Acc@1 ${pct(summary.acc1)}, Acc@5 ${pct(summary.acc5)}, ` +
          `EMA Acc@1 ${pct(summary.emaAcc1)}, EMA Acc@5 ${pct(summary.emaAcc5)}\n` +
          (summary.weights ? `weights: ${summary.weights}\n` : '') +
          (summary.report ? `report:  ${summary.report}\n` : ''),
      );
    });
}

/** One run per seed, then the per-seed table and the summary (also in <output>/seeds.json). */
async function trainSeeds(
  spec: TrainingRecipeSpec,
  parallelism: number,
  launch: Omit<Parameters<typeof runSeeds>[0], 'spec' | 'seeds' | 'parallelism'>,
): Promise<void> {
  const seeds = seedsOf(spec);
  process.stdout.write(
    `${seeds.length} seed(s): ${seeds.join(', ')}; ${Math.min(parallelism, seeds.length)} at a time\n`,
  );
  try {
    const runs = await runSeeds({ ...launch, spec, seeds, parallelism });
    process.stdout.write(
      `\n${formatSeedTable(runs.seeds, runs.summary)}seeds:  ${runs.file}\nreport: ${runs.report}\n`,
    );
  } catch (err) {
    if (err instanceof SeedsFailedError) {
      const { seeds: rows, summary, file, report } = err.runs;
      process.stdout.write(
        `\n${formatSeedTable(rows, summary)}seeds:  ${file}\nreport: ${report}\n`,
      );
    }
    throw err;
  }
}
