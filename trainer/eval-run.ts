/**
 * An eval-only recipe (spec.mode: eval), one process per rank: no training. The ranks score
 * spec.eval.weights on data.val — the model and its EMA when the artifact holds both (a
 * checkpoint), at the artifact's eval transform — and with spec.eval.resizeGrid run the
 * resize tuning of `ringmaster eval --resize-grid` (trainer/tune-resize.ts, the same code):
 * each rank scores its DistributedSampler slice of each half and the hits are summed over the
 * ring. Rank 0 writes `<output>/eval.json`, the results into progress.json (the operator copies
 * them to status.eval) and, with writeMeta, the chosen resize into the weights' meta.json.
 */
import { EVAL_FILE } from '../api/names.js';
import type { Progress } from '../api/progress.js';
import type { TrainingRecipeSpec } from '../api/schema.js';
import type { EvalStatus } from '../api/status.js';
import { InputError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { openStorage, type Storage } from '../common/storage/storage.js';
import { openArtifact, type EvalArtifact } from './checkpoint/artifact.js';
import { StepClock } from './comm/index.js';
import { resolveDataUri } from './data/resolve.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './data/transforms/normalize.js';
import { describeBackend, initBackend } from './engine/backend.js';
import { sendToLauncher, type RunSummary } from './local/messages.js';
import { ProgressFile } from './report/progress.js';
import { announceBackend } from './report/reporter.js';
import { describeThreadPlan, planWorkerThreads } from './thread-plan.js';
import {
  evaluateSets,
  formatTuning,
  resizeGrid,
  tuneResize,
  type ResizeTuning,
} from './tune-resize.js';
import type { WorkerConfig } from './worker-config.js';
import { connectWorkerGroup } from './worker-group.js';

export interface EvalRunOptions {
  cfg: Readonly<WorkerConfig>;
  spec: Readonly<TrainingRecipeSpec>;
  log: Logger;
  loaderThreads?: number | undefined;
}

/** What eval.json holds: status.eval plus the weights' metadata that was scored. */
export interface EvalReport extends EvalStatus {
  arch: string;
  kind: EvalArtifact['kind'];
  data: string;
  at: string;
}

export async function evalRun(o: EvalRunOptions): Promise<RunSummary> {
  const started = Date.now();
  const { cfg, spec } = o;
  const e = spec.eval;
  if (spec.mode !== 'eval' || !e) {
    throw new InputError('not an eval-only recipe', [
      { path: 'spec.mode', message: 'must be eval, with spec.eval' },
    ]);
  }
  const log = o.log.child({ rank: cfg.rank });
  const plan = planWorkerThreads({
    cgroupRoot: cfg.cgroupRoot,
    cpuRequestMillicores: cfg.cpuRequestMillicores,
    computeThreads: cfg.computeThreads,
    gpu: spec.gpusPerWorker > 0,
    batchSize: spec.recipe.batchSize,
    loaderWorkers: o.loaderThreads ?? cfg.loaderWorkers ?? spec.dataLoader?.workers,
    prefetchBatches: cfg.prefetchBatches ?? spec.dataLoader?.prefetchBatches,
  });
  const backend = await initBackend(cfg.backend, { threads: plan.computeThreads });
  announceBackend(`${describeBackend(backend)}\n${describeThreadPlan(plan)}`, cfg.rank);

  const r = spec.recipe;
  const artifact = await openArtifact(e.weights, {
    storage: cfg.storage,
    arch: r.model,
    archFlag: 'spec.recipe.model',
    transforms: {
      resizeSize: r.valResizeSize,
      cropSize: r.valCropSize,
      interpolation: r.interpolation,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
    },
  });
  const out = openStorage(spec.output, cfg.storage);
  try {
    // Refused on every rank before the group forms: exit 2, nothing written.
    const grid = e.resizeGrid
      ? resizeGrid(e.resizeGrid, artifact.transforms.cropSize, 'spec.eval.resizeGrid')
      : undefined;
    if (e.writeMeta && artifact.meta === null) {
      throw new InputError(`no meta.json at ${artifact.uri} to record the resize in`, [
        {
          path: 'spec.eval.writeMeta',
          message: 'needs a weights directory with meta.json (a checkpoint has none)',
        },
      ]);
    }
    const data = await resolveDataUri(spec.data.val, 'val', { cacheDir: cfg.cacheDir });
    const group = await connectWorkerGroup(cfg, log, new StepClock());
    const progress = group.rank === 0 ? new ProgressFile(out) : null;
    try {
      await progress?.update(progressRow('evaluating', {}), true);
      const common = {
        data,
        batchSize: r.batchSize,
        loaderThreads: plan.loaderWorkers,
        storage: cfg.storage,
        group,
      };
      const scored = await evaluateSets({
        ...common,
        sets: artifact.sets,
        numClasses: artifact.numClasses,
        transforms: artifact.transforms,
        split: e.split,
        file: artifact.uri,
        arch: artifact.arch,
      });
      if (scored.biased && group.rank === 0) {
        log.warn(
          { evaluated: Object.values(scored.scores)[0]?.count, samples: scored.samples },
          'validation padding: ranks evaluate more samples than the split has, so the accuracy is slightly biased',
        );
      }
      const tuned = artifact.sets.at(-1)!;
      const tuning = grid
        ? await tuneResize({
            ...common,
            weights: { ...artifact, file: artifact.uri, model: tuned.model },
            grid,
          })
        : undefined;
      const seconds = (Date.now() - started) / 1000;
      let summary: RunSummary = emptySummary(seconds);
      if (group.rank === 0) {
        const metaWritten = tuning && e.writeMeta ? await writeMeta(artifact, tuning, spec) : null;
        const status: EvalStatus = {
          weights: artifact.uri,
          split: e.split,
          resize: scored.resize,
          crop: artifact.transforms.cropSize,
          ...(scored.scores.model ? { model: scored.scores.model } : {}),
          ...(scored.scores.ema ? { ema: scored.scores.ema } : {}),
          ...(scored.biased ? { biased: true } : {}),
          ...(tuning ? { tuning: tuningStatus(tuning, tuned.name, metaWritten) } : {}),
          report: out.uriOf(EVAL_FILE),
          workers: group.worldSize,
          seconds: Math.round(seconds * 10) / 10,
        };
        const report: EvalReport = {
          ...status,
          arch: artifact.arch.name,
          kind: artifact.kind,
          data: spec.data.val,
          at: new Date().toISOString(),
        };
        await out.put(EVAL_FILE, Buffer.from(JSON.stringify(report, null, 2)), {
          contentType: 'application/json',
        });
        await progress!.update(progressRow('done', status), true);
        process.stdout.write(formatEval(status, tuning));
        summary = {
          ...emptySummary(seconds),
          ...accuracies(status),
          weights: artifact.uri,
          report: out.uriOf(EVAL_FILE),
        };
        sendToLauncher({ type: 'done', summary }, 0);
      }
      await group.barrier();
      return summary;
    } finally {
      await group.close();
    }
  } finally {
    artifact.dispose();
    out.close();
  }
}

function emptySummary(seconds: number): RunSummary {
  return {
    acc1: null,
    acc5: null,
    emaAcc1: null,
    emaAcc5: null,
    weights: null,
    report: null,
    epochs: 0,
    seconds,
  };
}

/** status.metrics from an eval: the printer columns show the model's and the EMA's Acc@1. */
function accuracies(s: EvalStatus): Pick<RunSummary, 'acc1' | 'acc5' | 'emaAcc1' | 'emaAcc5'> {
  return {
    acc1: s.model?.acc1 ?? null,
    acc5: s.model?.acc5 ?? null,
    emaAcc1: s.ema?.acc1 ?? null,
    emaAcc5: s.ema?.acc5 ?? null,
  };
}

function progressRow(
  phase: 'evaluating' | 'done',
  s: Partial<EvalStatus>,
): Omit<Progress, 'updatedAt'> {
  const a = accuracies(s as EvalStatus);
  const metrics: Progress['metrics'] = {
    acc1: a.acc1,
    acc5: a.acc5,
    emaAcc1: a.emaAcc1,
    emaAcc5: a.emaAcc5,
  };
  return {
    phase,
    epoch: 0,
    epochs: 0,
    step: 0,
    totalSteps: 0,
    imagesPerSec: 0,
    etaSeconds: null,
    loss: null,
    lr: 0,
    metrics,
    lastCheckpoint: null,
    weights: null,
    ...(phase === 'done' ? { eval: s as EvalStatus } : {}),
  };
}

function tuningStatus(
  t: ResizeTuning,
  weights: 'model' | 'ema',
  metaWritten: string | null,
): NonNullable<EvalStatus['tuning']> {
  return {
    weights,
    grid: t.grid,
    chosen: t.chosen,
    current: t.current,
    ...(t.confirmGain !== null ? { confirmGain: t.confirmGain } : {}),
    split: t.split,
    ...(metaWritten ? { metaWritten } : {}),
  };
}

/** meta.json with the chosen resize, as `eval --write-meta` writes it; returns its URI. */
export async function writeMeta(
  a: Pick<EvalArtifact, 'meta' | 'transforms' | 'storage' | 'metaKey'>,
  t: ResizeTuning,
  spec: Pick<TrainingRecipeSpec, 'data'>,
): Promise<string> {
  const meta = {
    ...a.meta,
    transforms: { ...a.transforms, resizeSize: t.chosen },
    resizeTuning: {
      grid: t.grid,
      chosen: t.chosen,
      previous: t.current,
      confirmGain: t.confirmGain,
      split: t.split,
      data: spec.data.val,
      at: new Date().toISOString(),
    },
  };
  if (a.storage === null) throw new InputError('these weights are read-only (a registry entry)');
  await putJson(a.storage, a.metaKey, meta);
  return a.storage.uriOf(a.metaKey);
}

async function putJson(s: Storage, key: string, value: unknown): Promise<void> {
  await s.put(key, Buffer.from(JSON.stringify(value, null, 2)), {
    contentType: 'application/json',
  });
}

const pct = (v: number) => v.toFixed(2);

/** What rank 0 prints: each set's Acc@1/Acc@5, then the grid when there is one. */
export function formatEval(s: EvalStatus, tuning: ResizeTuning | undefined): string {
  const lines = [
    `${s.weights} on ${s.split === 'all' ? 'the whole split' : `the ${s.split}-indexed half`} ` +
      `at resize ${s.resize} / crop ${s.crop}, ${s.workers} worker(s):`,
  ];
  for (const [name, score] of [
    ['model', s.model],
    ['EMA', s.ema],
  ] as const) {
    if (score) {
      lines.push(
        `  ${name.padEnd(5)} Acc@1 ${pct(score.acc1)}  Acc@5 ${pct(score.acc5)}  (${score.count} samples)`,
      );
    }
  }
  if (s.biased) lines.push('  (DistributedSampler padding: some samples were scored twice)');
  let text = lines.join('\n') + '\n';
  if (tuning && s.tuning) {
    text += `\nresize grid on the ${s.tuning.weights === 'ema' ? 'EMA' : 'model'} weights\n`;
    text += formatTuning(tuning);
    if (s.tuning.metaWritten)
      text += `wrote resizeSize ${tuning.chosen} to ${s.tuning.metaWritten}\n`;
  }
  return text;
}
