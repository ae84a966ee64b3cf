/**
 * `ringmaster study STUDY.yaml --local`: a TrainingStudy on this machine. Each variant is a
 * `train --local --seeds` run (runSeeds: one worker group per seed, seeds.json in the
 * variant's output); with screening, every variant first runs its short cycle and only the
 * `keep` best (api/study-screening.ts) get the full run. Variants run one after another: the
 * cores are shared by the seeds of one variant. Then the table (api/study-table.ts) goes to
 * `<output>/study.json` and `study.md`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STUDY_FILE, STUDY_MARKDOWN_FILE } from '../../api/names.js';
import type { SeedRunStatus } from '../../api/status.js';
import { expandStudy, screeningRunSpec, type StudyVariant } from '../../api/study-load.js';
import { keepBest, screeningScore } from '../../api/study-screening.js';
import {
  formatStudyMarkdown,
  studyInputs,
  studyTable,
  type StudyRow,
} from '../../api/study-table.js';
import type { TrainingStudySpec } from '../../api/study.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import { RetryableError } from '../../common/errors.js';
import { runSeeds, SeedsFailedError, type SeedRunsOptions } from './seeds.js';

export interface StudyRunOptions extends Omit<SeedRunsOptions, 'spec' | 'seeds' | 'parallelism'> {
  /** The study with its base resolved (output absolute, data resolved). */
  study: TrainingStudySpec;
  /** Runs one variant's seeds (tests pass a fake; default runSeeds). */
  runVariant?: typeof runSeeds;
}

export interface VariantResult {
  name: string;
  output: string;
  seeds: SeedRunStatus[];
  /** Screening only. */
  score?: number;
  kept?: boolean;
}

export interface StudyResult {
  figure: string;
  rows: StudyRow[];
  variants: VariantResult[];
  screening?: VariantResult[];
  /** `<output>/study.json`. */
  file: string;
  markdown: string;
}

export async function runStudy(o: StudyRunOptions): Promise<StudyResult> {
  const out = o.out ?? process.stdout;
  const variants = expandStudy(o.study);
  const run = async (v: StudyVariant, spec: TrainingRecipeSpec, stage: string) => {
    out.write(`\n══ ${stage} ${v.index + 1}/${variants.length}: ${v.name} → ${spec.output}\n`);
    const seeds = spec.seeds!;
    const parallelism = spec.parallelism;
    try {
      const runs = await (o.runVariant ?? runSeeds)({ ...o, spec, seeds, parallelism });
      return runs.seeds;
    } catch (err) {
      // Some seeds failed after their restarts: the others still count (as with --seeds).
      if (err instanceof SeedsFailedError) return err.runs.seeds;
      throw err;
    }
  };

  let full = variants;
  let screening: VariantResult[] | undefined;
  const sc = o.study.screening;
  if (sc) {
    screening = [];
    for (const v of variants) {
      const spec = screeningRunSpec(o.study, v, sc);
      const seeds = await run(v, spec, `screening (${sc.screenEpochs} epochs)`);
      const score = screeningScore(seeds);
      screening.push({
        name: v.name,
        output: spec.output,
        seeds,
        ...(score !== undefined ? { score } : {}),
      });
    }
    const kept = new Set(
      keepBest(
        screening.map((s) => s.score),
        sc.keep,
      ),
    );
    screening.forEach((s, i) => (s.kept = kept.has(i)));
    full = variants.filter((_, i) => kept.has(i));
    out.write(
      `\nscreening kept ${full.length} of ${variants.length}: ${full.map((v) => v.name).join(', ')}\n`,
    );
  }

  const results: VariantResult[] = [];
  for (const v of full) {
    results.push({ name: v.name, output: v.spec.output, seeds: await run(v, v.spec, 'variant') });
  }

  const { inputs, caption } = studyInputs(
    results.map((r) => ({ name: r.name, source: r.output, seeds: r.seeds })),
    o.study.figure,
    { allowEmpty: true },
  );
  const rows = studyTable(inputs);
  const markdown = formatStudyMarkdown(rows, caption);
  const dir = o.study.base.output;
  await mkdir(dir, { recursive: true });
  const file = join(dir, STUDY_FILE);
  const result = { figure: caption, rows, variants: results, ...(screening ? { screening } : {}) };
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  await writeFile(join(dir, STUDY_MARKDOWN_FILE), markdown);
  const empty = results.filter((r) => !r.seeds.some((s) => s.phase === 'Succeeded'));
  if (empty.length > 0) {
    throw new StudyFailedError(
      `no seed of ${empty.map((r) => r.name).join(', ')} succeeded; the table holds the other rows`,
      { ...result, file, markdown },
    );
  }
  return { ...result, file, markdown };
}

/** Some variant has no succeeded seed: the table of the others is still reported. */
export class StudyFailedError extends RetryableError {
  constructor(
    message: string,
    readonly result: StudyResult,
  ) {
    super(message);
  }
}
