/**
 * What `train --local` and `study --local` both do before launching: check the worker count
 * against the machine, make the output absolute, build generated datasets once (not per
 * worker) and gather the launcher's options.
 */
import { cpus } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ProcessEnv } from '../../api/names.js';
import { trainData } from '../../api/load.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import { InputError } from '../../common/errors.js';
import { resolveDataUri } from '../data/resolve.js';
import type { LaunchOptions } from '../local/launcher.js';

export interface LocalFlags {
  workers?: number;
  backend?: string;
  restarts: number;
  output?: string;
  allowRecipeChange?: boolean;
  opTimeout: number;
}

export type LocalLaunch = Omit<LaunchOptions, 'spec'>;

export async function prepareLocal(
  spec: Readonly<TrainingRecipeSpec>,
  flags: LocalFlags,
): Promise<{ resolved: TrainingRecipeSpec; launch: LocalLaunch }> {
  const workers = flags.workers ?? spec.workers;
  if (workers < 1) throw new InputError('--workers must be ≥ 1');
  if (workers > cpus().length * 4) {
    throw new InputError(
      `--workers ${workers} is far more than this machine's ${cpus().length} cores`,
    );
  }
  const output = flags.output ?? spec.output;
  const resolvedOutput =
    output.startsWith('s3://') || isAbsolute(output) ? output : resolve(output);
  const cacheDir =
    process.env[ProcessEnv.cache] ?? join(process.env.HOME ?? '/tmp', '.cache', 'ringmaster');
  const data = {
    train: await resolveDataUri(trainData(spec), 'train', { cacheDir }),
    val: await resolveDataUri(spec.data.val, 'val', { cacheDir }),
  };
  const resolved = {
    ...structuredClone(spec),
    workers,
    output: resolvedOutput,
    data: { ...spec.data, ...data },
  } as TrainingRecipeSpec;
  const launch: LocalLaunch = {
    workers,
    maxRestarts: flags.restarts,
    cacheDir,
    allowRecipeChange: Boolean(flags.allowRecipeChange),
    opTimeoutMs: flags.opTimeout,
    ...(flags.backend ? { backend: flags.backend } : {}),
  };
  return { resolved, launch };
}
