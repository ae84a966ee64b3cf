/**
 * Inference-resize tuning on a finished model, the seed's protocol: "a short grid search
 * between [224, 256] with step of 8 … selected using half of the validation set and confirmed
 * using the other half" (which gave valResizeSize 232). No retraining: only the eval
 * transform's resize changes.
 *
 * The split is deterministic and documented: samples with an even index in the split's
 * index.json order select, odd ones confirm. The choice is the resize with the highest
 * Acc@1 on the selecting half (ties: higher Acc@5, then the smaller resize, the cheaper one).
 */
import { EVAL_SPLITS, MAX_GRID_POINTS } from '../api/schema.js';
import { InputError } from '../common/errors.js';
import { openStorage, type StorageOptions } from '../common/storage/storage.js';
import { evalTransformConfig, type EvalTransforms, type WeightSet } from './checkpoint/artifact.js';
import type { Group } from './comm/index.js';
import { DataLoader } from './data/loader.js';
import { samplerFor } from './data/sampler.js';
import { countHits, sumOverRanks } from './evaluate.js';
import type { ResNetModel } from './models/resnet.js';
import { accuracyFromCounts } from './optim/metrics.js';

/** "224:256:8" → [224, 232, 240, 248, 256]; every value must be ≥ the crop. */
export function parseResizeGrid(text: string, cropSize: number): number[] {
  const flag = '--resize-grid';
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(text);
  if (!m) {
    throw new InputError(`invalid ${flag}`, [
      { path: flag, message: `must be START:END[:STEP] in pixels, e.g. 224:256:8 (got "${text}")` },
    ]);
  }
  const [start, end, step] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 8)];
  return resizeGrid({ start, end, step }, cropSize, flag);
}

/**
 * The grid's values, refused (InputError naming `path`: the flag, or spec.eval.resizeGrid)
 * when the step is not positive, the end is before the start, the start is below the crop or
 * there are more than MAX_GRID_POINTS points.
 */
export function resizeGrid(
  g: { start: number; end: number; step: number },
  cropSize: number,
  path: string,
): number[] {
  const { start, end, step } = g;
  const issue = (message: string) => new InputError(`invalid ${path}`, [{ path, message }]);
  if (step < 1) throw issue('STEP must be ≥ 1');
  if (end < start) throw issue(`END (${end}) must be ≥ START (${start})`);
  if (start < cropSize) {
    throw issue(
      `START (${start}) must be ≥ the crop size ${cropSize}: the center crop is taken from the resized image`,
    );
  }
  const values: number[] = [];
  for (let r = start; r <= end; r += step) values.push(r);
  if (values.length > MAX_GRID_POINTS) {
    throw issue(`${values.length} points; at most ${MAX_GRID_POINTS} (use a larger STEP)`);
  }
  return values;
}

/** The two halves of a split of n samples: even indices select, odd ones confirm. */
export function halves(n: number): { select: Uint32Array; confirm: Uint32Array } {
  const select = new Uint32Array(Math.ceil(n / 2));
  const confirm = new Uint32Array(Math.floor(n / 2));
  for (let i = 0; i < n; i++) (i % 2 === 0 ? select : confirm)[i >> 1] = i;
  return { select, confirm };
}

export interface HalfScore {
  acc1: number;
  acc5: number;
  count: number;
}

export interface GridRow {
  resize: number;
  select: HalfScore;
  confirm: HalfScore;
}

export interface ResizeTuning {
  grid: GridRow[];
  /** The resize the selecting half chose. */
  chosen: number;
  /** The artifact's resize before tuning (its meta.json, or the default). */
  current: number;
  /** Confirming half, Acc@1 at the chosen resize minus at the current one (when on the grid). */
  confirmGain: number | null;
  split: string;
}

/** Best Acc@1 on the selecting half; ties → higher Acc@5, then the smaller resize. */
export function chooseResize(grid: readonly GridRow[]): number {
  if (grid.length === 0) throw new Error('empty grid');
  let best = grid[0]!;
  for (const r of grid.slice(1)) {
    const a = r.select;
    const b = best.select;
    if (a.acc1 > b.acc1 || (a.acc1 === b.acc1 && a.acc5 > b.acc5)) best = r;
  }
  return best.resize;
}

/** What is scored: a model with its class count and its eval transforms. */
export interface ScoreTarget {
  model: ResNetModel;
  numClasses: number;
  transforms: EvalTransforms;
  /** Named in a class-count mismatch. */
  file?: string;
  arch?: { name: string };
}

interface Common {
  /** The validation split's URI (resolved: a local path or s3://). */
  data: string;
  batchSize: number;
  loaderThreads: number;
  storage?: StorageOptions;
  /**
   * The ranks of an eval-only recipe: each scores its DistributedSampler slice (shuffle off,
   * padded as torch pads) and the hits are summed over the ring. Absent: this process alone.
   */
  group?: Group;
}

export interface TuneOptions extends Common {
  weights: ScoreTarget;
  grid: readonly number[];
}

/**
 * This rank's share of `indices`: DistributedSampler over them (shuffle off), so every rank
 * scores the same count and the padding repeats the list from its start.
 */
export function rankSlice(indices: Uint32Array, rank: number, worldSize: number): Uint32Array {
  if (worldSize === 1) return indices;
  const positions = samplerFor('distributed', {
    n: indices.length,
    rank,
    worldSize,
    shuffle: false,
  }).indices(0);
  return positions.map((p) => indices[p]!);
}

/** Hits of `model` over `indices` (this rank's slice, summed over the group). */
async function scoreIndices(
  loader: DataLoader,
  model: ResNetModel,
  indices: Uint32Array,
  o: Common,
): Promise<HalfScore> {
  const rank = o.group?.rank ?? 0;
  const worldSize = o.group?.worldSize ?? 1;
  const counts = await countHits(loader, model, {
    indices: rankSlice(indices, rank, worldSize),
    batchSize: o.batchSize,
    seed: 0,
    rank,
    worldSize,
  });
  const total = o.group ? await sumOverRanks(o.group, counts) : counts;
  return { ...accuracyFromCounts(total), count: total.count };
}

export async function tuneResize(o: TuneOptions): Promise<ResizeTuning> {
  const storage = openStorage(o.data, o.storage ?? {});
  const rows: GridRow[] = [];
  let split: { select: Uint32Array; confirm: Uint32Array } | undefined;
  try {
    for (const resize of o.grid) {
      const loader = await DataLoader.create({
        storage,
        transform: { kind: 'preset', config: evalTransformConfig(o.weights.transforms, resize) },
        workers: o.loaderThreads,
      });
      try {
        checkClasses(o.weights, loader.classes.length, o.data);
        split ??= halves(loader.numSamples);
        const score = (indices: Uint32Array) => scoreIndices(loader, o.weights.model, indices, o);
        rows.push({
          resize,
          select: await score(split.select),
          confirm: await score(split.confirm),
        });
      } finally {
        await loader.close();
      }
    }
  } finally {
    storage.close();
  }
  const chosen = chooseResize(rows);
  const current = o.weights.transforms.resizeSize;
  const at = (r: number) => rows.find((row) => row.resize === r)?.confirm.acc1;
  const [c, b] = [at(chosen), at(current)];
  return {
    grid: rows,
    chosen,
    current,
    confirmGain: c !== undefined && b !== undefined ? c - b : null,
    split: 'even sample index selects, odd confirms',
  };
}

export type EvalSplit = (typeof EVAL_SPLITS)[number];

/** The samples a split names, in index.json order: all, or the even- or odd-indexed half. */
export function splitIndices(n: number, split: EvalSplit): Uint32Array {
  if (split === 'all') return Uint32Array.from({ length: n }, (_, i) => i);
  const h = halves(n);
  return split === 'even' ? h.select : h.confirm;
}

/** Full-split Acc@1/Acc@5 at the artifact's own transforms. */
export async function evaluateWeights(
  o: Common & { weights: ScoreTarget; split?: EvalSplit },
): Promise<HalfScore & { resize: number }> {
  const r = await evaluateSets({
    ...o,
    sets: [{ name: 'model', model: o.weights.model }],
    numClasses: o.weights.numClasses,
    transforms: o.weights.transforms,
    ...(o.weights.file !== undefined ? { file: o.weights.file } : {}),
    ...(o.weights.arch !== undefined ? { arch: o.weights.arch } : {}),
  });
  return { ...r.scores.model!, resize: r.resize };
}

export interface SetScores {
  resize: number;
  /** Samples the split has (before padding). */
  samples: number;
  /** DistributedSampler padding made the ranks score more samples than the split has. */
  biased: boolean;
  scores: Partial<Record<WeightSet['name'], HalfScore>>;
}

/** Each set of weights (model, EMA) on one split at the artifact's resize: one loader. */
export async function evaluateSets(
  o: Common & {
    sets: readonly WeightSet[];
    numClasses: number;
    transforms: EvalTransforms;
    split?: EvalSplit;
    /** Named in a class-count mismatch. */
    file?: string;
    arch?: { name: string };
  },
): Promise<SetScores> {
  const storage = openStorage(o.data, o.storage ?? {});
  const loader = await DataLoader.create({
    storage,
    transform: { kind: 'preset', config: evalTransformConfig(o.transforms) },
    workers: o.loaderThreads,
  });
  try {
    checkClasses(o, loader.classes.length, o.data);
    const indices = splitIndices(loader.numSamples, o.split ?? 'all');
    const scores: SetScores['scores'] = {};
    for (const set of o.sets) scores[set.name] = await scoreIndices(loader, set.model, indices, o);
    const count = Object.values(scores)[0]?.count ?? 0;
    return {
      resize: o.transforms.resizeSize,
      samples: indices.length,
      biased: count > indices.length,
      scores,
    };
  } finally {
    await loader.close();
    storage.close();
  }
}

function checkClasses(
  w: { numClasses: number; file?: string; arch?: { name: string } },
  dataClasses: number,
  data: string,
): void {
  if (w.numClasses !== dataClasses) {
    const which = w.file
      ? ` ${w.file}${w.arch ? ` (${w.arch.name})` : ''}`
      : w.arch
        ? ` (${w.arch.name})`
        : '';
    throw new InputError(
      `the weights${which} classify ${w.numClasses} classes but the data ${data} has ${dataClasses}`,
      [
        {
          path: '--data',
          message: `must have ${w.numClasses} classes, like the weights' fc layer`,
        },
      ],
    );
  }
}

const pct = (v: number) => v.toFixed(2).padStart(7);

export function formatTuning(t: ResizeTuning): string {
  const n = (h: 'select' | 'confirm') => t.grid[0]?.[h].count ?? 0;
  const lines = [
    `split: ${t.split} (${n('select')} / ${n('confirm')} samples)`,
    '',
    ' resize │  select half    │  confirm half',
    '        │  Acc@1   Acc@5  │  Acc@1   Acc@5',
    '────────┼─────────────────┼────────────────',
  ];
  for (const r of t.grid) {
    const mark = r.resize === t.chosen ? '*' : r.resize === t.current ? '=' : ' ';
    lines.push(
      `${mark}${String(r.resize).padStart(6)} │${pct(r.select.acc1)} ${pct(r.select.acc5)}  │` +
        `${pct(r.confirm.acc1)} ${pct(r.confirm.acc5)}`,
    );
  }
  lines.push('', `* chosen, = current (${t.current})`);
  lines.push(`valResizeSize: ${t.chosen}`);
  if (t.confirmGain !== null) {
    const g = t.confirmGain;
    lines.push(
      `confirm half: Acc@1 ${g >= 0 ? '+' : ''}${g.toFixed(2)} points at ${t.chosen} against ${t.current}`,
    );
  } else {
    lines.push(`confirm half: the current resize ${t.current} is not on the grid`);
  }
  return lines.join('\n') + '\n';
}
