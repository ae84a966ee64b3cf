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
import { InputError } from '../common/errors.js';
import { openStorage, type StorageOptions } from '../common/storage/storage.js';
import { evalTransformConfig, type OpenedWeights } from './checkpoint/artifact.js';
import { DataLoader } from './data/loader.js';
import { countHits } from './evaluate.js';
import { accuracyFromCounts } from './optim/metrics.js';

export const MAX_GRID_POINTS = 64;

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
  const issue = (message: string) => new InputError(`invalid ${flag}`, [{ path: flag, message }]);
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

export interface TuneOptions {
  weights: OpenedWeights;
  /** The validation split's URI (resolved: a local path or s3://). */
  data: string;
  grid: readonly number[];
  batchSize: number;
  loaderThreads: number;
  storage?: StorageOptions;
}

export async function tuneResize(o: TuneOptions): Promise<ResizeTuning> {
  const storage = openStorage(o.data, o.storage ?? {});
  const rows: GridRow[] = [];
  let split: { select: Uint32Array; confirm: Uint32Array } | undefined;
  for (const resize of o.grid) {
    const loader = await DataLoader.create({
      storage,
      transform: { kind: 'preset', config: evalTransformConfig(o.weights.transforms, resize) },
      workers: o.loaderThreads,
    });
    try {
      checkClasses(o.weights, loader.classes.length, o.data);
      split ??= halves(loader.numSamples);
      const score = async (indices: Uint32Array): Promise<HalfScore> => {
        const counts = await countHits(loader, o.weights.model, {
          indices,
          batchSize: o.batchSize,
          seed: 0,
        });
        return { ...accuracyFromCounts(counts), count: counts.count };
      };
      rows.push({ resize, select: await score(split.select), confirm: await score(split.confirm) });
    } finally {
      await loader.close();
    }
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

/** Full-split Acc@1/Acc@5 at the artifact's own transforms. */
export async function evaluateWeights(
  o: Omit<TuneOptions, 'grid'>,
): Promise<HalfScore & { resize: number }> {
  const loader = await DataLoader.create({
    storage: openStorage(o.data, o.storage ?? {}),
    transform: { kind: 'preset', config: evalTransformConfig(o.weights.transforms) },
    workers: o.loaderThreads,
  });
  try {
    checkClasses(o.weights, loader.classes.length, o.data);
    const indices = Uint32Array.from({ length: loader.numSamples }, (_, i) => i);
    const counts = await countHits(loader, o.weights.model, {
      indices,
      batchSize: o.batchSize,
      seed: 0,
    });
    return {
      ...accuracyFromCounts(counts),
      count: counts.count,
      resize: o.weights.transforms.resizeSize,
    };
  } finally {
    await loader.close();
  }
}

function checkClasses(w: OpenedWeights, dataClasses: number, data: string): void {
  if (w.numClasses !== dataClasses) {
    throw new InputError(
      `the weights ${w.file} (${w.arch.name}) classify ${w.numClasses} classes but the data ${data} has ${dataClasses}`,
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
