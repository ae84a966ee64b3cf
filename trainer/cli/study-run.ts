/**
 * `ringmaster study STUDY.yaml --local`: load and check the study (a bad step exits 2 before
 * anything is written), resolve its base like `train --local` does, run it
 * (trainer/local/study.ts) and print the table as text and Markdown.
 */
import { loadTrainingStudyFile } from '../../api/study-load.js';
import { formatStudyText, type StudyFigure } from '../../api/study-table.js';
import { InputError } from '../../common/errors.js';
import { intFlag } from '../../common/parse.js';
import { runStudy, StudyFailedError, type StudyResult } from '../local/study.js';
import { prepareLocal } from './local-setup.js';

export interface StudyRunFlags {
  local?: boolean;
  workers?: string;
  backend?: string;
  output?: string;
}

function print(r: StudyResult): void {
  process.stdout.write(
    `\n${formatStudyText(r.rows, r.figure)}\n${r.markdown}\ntable:  ${r.file}\n`,
  );
}

export async function runStudyCommand(
  file: string,
  flags: StudyRunFlags,
  figure: StudyFigure | undefined,
): Promise<void> {
  const { spec } = await loadTrainingStudyFile(file);
  if (!flags.local) {
    throw new InputError(
      `${file} is a TrainingStudy: run it with --local, or on Kubernetes: kubectl apply -f ${file}`,
    );
  }
  const workers =
    flags.workers === undefined ? undefined : intFlag('--workers', { min: 1 })(flags.workers);
  const { resolved, launch } = await prepareLocal(spec.base, {
    restarts: 2,
    opTimeout: 120_000,
    ...(workers !== undefined ? { workers } : {}),
    ...(flags.backend ? { backend: flags.backend } : {}),
    ...(flags.output ? { output: flags.output } : {}),
  });
  // --figure given on the command line wins over the study's.
  const study = { ...structuredClone(spec), base: resolved, figure: figure ?? spec.figure };
  try {
    print(await runStudy({ ...launch, study }));
  } catch (err) {
    if (err instanceof StudyFailedError) print(err.result);
    throw err;
  }
}
