import type { Command } from 'commander';
import { register as augment } from './augment.js';
import { register as dataset } from './dataset.js';
import { register as evaluate } from './eval.js';
import { register as exportWeights } from './export.js';
import { register as pack } from './pack.js';
import { register as plan } from './plan.js';
import { register as predict } from './predict.js';
import { register as study } from './study.js';
import { register as train } from './train.js';
import { register as weights } from './weights.js';
import { register as worker } from './worker.js';

/** Each subcommand lives in its own file and registers itself here (one line each). */
export const commands: Array<(program: Command) => void> = [
  pack,
  dataset,
  plan,
  train,
  worker,
  exportWeights,
  predict,
  evaluate,
  study,
  augment,
  weights,
];
