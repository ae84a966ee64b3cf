/**
 * `ringmaster study RESULTS… [--markdown] [--json] [--names a,b,…] [--figure ema|model]`: the
 * ablation table of multi-seed results (each RESULT a `seeds.json` written by `train --local
 * --seeds`, or the output directory holding it), rows in the order given, each against the
 * row above (api/study-table.ts).
 *
 * `ringmaster study STUDY.yaml --local`: runs a TrainingStudy on this machine
 * (trainer/local/study.ts) and prints the same table.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { SEEDS_FILE } from '../../api/names.js';
import type { SeedRunStatus } from '../../api/status.js';
import { InputError, NotFoundError } from '../../common/errors.js';
import {
  formatStudyMarkdown,
  formatStudyText,
  studyInputs,
  studyTable,
  type VariantSeeds,
} from '../../api/study-table.js';
import { runStudyCommand, type StudyRunFlags } from './study-run.js';

interface StudyFlags extends StudyRunFlags {
  markdown?: boolean;
  json?: boolean;
  names?: string;
  figure?: string;
}

async function load(path: string): Promise<VariantSeeds> {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, SEEDS_FILE) : path;
  if (!existsSync(file)) throw new NotFoundError(`no ${SEEDS_FILE} at ${path}`);
  let obj: { seeds?: unknown };
  try {
    obj = JSON.parse(await readFile(file, 'utf8')) as { seeds?: unknown };
  } catch (err) {
    throw new InputError(`${file} is not valid JSON`, [], { cause: err });
  }
  if (!Array.isArray(obj.seeds)) {
    throw new InputError(`${file} is not a seeds.json`, [{ path: 'seeds', message: 'missing' }]);
  }
  const name = basename(file === path ? dirname(file) : path);
  return { name, source: file, seeds: obj.seeds as SeedRunStatus[] };
}

const isStudyFile = (p: string) => /\.(ya?ml)$/i.test(p);

export function register(program: Command): void {
  program
    .command('study')
    .description(
      'the ablation table of multi-seed results (seeds.json), each row against the one above; ' +
        'or run a TrainingStudy: study STUDY.yaml --local',
    )
    .argument(
      '<results...>',
      'seeds.json files or the outputs holding them, in ladder order; or one STUDY.yaml with --local',
    )
    .option('--local', 'STUDY.yaml: run every variant on this machine, then print the table')
    .option('--workers <n>', 'STUDY.yaml: worker processes per run (default: the base recipe’s)')
    .option('--backend <name>', 'STUDY.yaml: force a compute backend')
    .option('--output <dir>', 'STUDY.yaml: override the base recipe’s output')
    .option('--names <list>', 'row names, comma-separated (default: the directory names)')
    .option('--figure <which>', 'ema (default; the model when a seed has no EMA) or model')
    .option('--markdown', 'print a Markdown table')
    .option('--json', 'print JSON')
    .action(async (results: string[], flags: StudyFlags) => {
      if (flags.figure !== undefined && flags.figure !== 'ema' && flags.figure !== 'model') {
        throw new InputError('invalid --figure', [
          { path: '--figure', message: `must be ema or model (got "${flags.figure}")` },
        ]);
      }
      if (results.length === 1 && isStudyFile(results[0]!)) {
        await runStudyCommand(results[0]!, flags, flags.figure as 'ema' | 'model' | undefined);
        return;
      }
      if (flags.local) {
        throw new InputError('--local runs a study file', [
          {
            path: '--local',
            message: 'give one TrainingStudy YAML file (e.g. examples/ablation/study.yaml)',
          },
        ]);
      }
      const loaded = await Promise.all(results.map(load));
      if (flags.names !== undefined) {
        const names = flags.names.split(',').map((n) => n.trim());
        if (names.length !== loaded.length) {
          throw new InputError('invalid --names', [
            { path: '--names', message: `${names.length} names for ${loaded.length} results` },
          ]);
        }
        names.forEach((n, i) => (loaded[i]!.name = n));
      }
      const { inputs, caption } = studyInputs(loaded, flags.figure ?? 'ema');
      const rows = studyTable(inputs);
      process.stdout.write(
        flags.json
          ? `${JSON.stringify({ figure: caption, rows }, null, 2)}\n`
          : flags.markdown
            ? formatStudyMarkdown(rows, caption)
            : formatStudyText(rows, caption),
      );
    });
}
