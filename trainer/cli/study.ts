/**
 * `ringmaster study RESULTS… [--markdown] [--json] [--names a,b,…] [--figure ema|model]`: the
 * ablation table of multi-seed results (each RESULT a `seeds.json` written by `train --local
 * --seeds`, or the output directory holding it), rows in the order given, each against the
 * row above (trainer/report/study.ts). The study as a Kubernetes object is not built yet.
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
  studyTable,
  type StudyInput,
} from '../report/study.js';

interface StudyFlags {
  markdown?: boolean;
  json?: boolean;
  names?: string;
  figure: string;
}

interface Loaded {
  name: string;
  file: string;
  seeds: SeedRunStatus[];
}

async function load(path: string): Promise<Loaded> {
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
  return { name, file, seeds: obj.seeds as SeedRunStatus[] };
}

/** Acc@1/Acc@5 of the seeds that succeeded: the EMA's when every one has them (figure ema). */
export function studyInputs(
  loaded: readonly Loaded[],
  figure: 'ema' | 'model',
): { inputs: StudyInput[]; caption: string } {
  const ok = loaded.map((l) => l.seeds.filter((s) => s.phase === 'Succeeded'));
  for (const [i, seeds] of ok.entries()) {
    if (seeds.length === 0) {
      throw new InputError(`no seed succeeded in ${loaded[i]!.file}`, [
        { path: loaded[i]!.file, message: 'needs at least one Succeeded seed' },
      ]);
    }
  }
  const useEma =
    figure === 'ema' && ok.every((seeds) => seeds.every((s) => s.metrics?.emaAcc1 !== undefined));
  const inputs = ok.map((seeds, i) => ({
    name: loaded[i]!.name,
    acc1: seeds.map((s) => (useEma ? s.metrics!.emaAcc1! : (s.metrics?.acc1 ?? NaN))),
    acc5: seeds.map((s) => (useEma ? (s.metrics!.emaAcc5 ?? NaN) : (s.metrics?.acc5 ?? NaN))),
  }));
  return {
    inputs,
    caption: useEma
      ? 'EMA weights (Acc@1, Acc@5 of the EMA)'
      : figure === 'ema'
        ? 'model weights (some seeds have no EMA figures)'
        : 'model weights',
  };
}

export function register(program: Command): void {
  program
    .command('study')
    .description(
      'the ablation table of multi-seed results (seeds.json), each row against the one above',
    )
    .argument('<results...>', 'seeds.json files or the outputs holding them, in ladder order')
    .option('--names <list>', 'row names, comma-separated (default: the directory names)')
    .option('--figure <which>', 'ema (default; the model when a seed has no EMA) or model', 'ema')
    .option('--markdown', 'print a Markdown table')
    .option('--json', 'print JSON')
    .action(async (results: string[], flags: StudyFlags) => {
      if (flags.figure !== 'ema' && flags.figure !== 'model') {
        throw new InputError('invalid --figure', [
          { path: '--figure', message: `must be ema or model (got "${flags.figure}")` },
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
      const { inputs, caption } = studyInputs(loaded, flags.figure);
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
