/**
 * `ringmaster augment IMAGE -o OUT.png` — see what the transforms do to an image, with one of:
 *   --op NAME --magnitude M     one TrivialAugmentWide op, M signed as torchvision passes it
 *                               (Brightness 0.33 → factor 1.33, Rotate 30 → degrees,
 *                               Posterize 4 → bits, Solarize 128 → threshold);
 *   --eval [--recipe R]         the eval transform (Resize + CenterCrop), before normalization;
 *   --recipe R --grid N [--seed S]  an N×N contact sheet of training augmentations as the model
 *                               sees them (the normalized tensors, de-normalized for display).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import sharp from 'sharp';
import { intFlag } from '../../common/parse.js';
import { InputError } from '../../common/errors.js';
import { defaultRecipe, loadTrainingRecipeFile } from '../../api/load.js';
import type { Recipe } from '../../api/schema.js';
import { Rng } from '../rng.js';
import { decodeRgb } from '../data/transforms/decode.js';
import { evalResizeCrop } from '../data/transforms/eval.js';
import type { RgbImage } from '../data/transforms/image.js';
import { denormalize } from '../data/transforms/normalize.js';
import { makeTrainTransform, transformConfigFromRecipe } from '../data/transforms/presets.js';
import {
  applyTaOp,
  TA_WIDE_MAGNITUDE_RANGE,
  TA_WIDE_OPS,
  type TaWideOp,
} from '../data/transforms/trivial-augment-wide.js';

export interface AugmentOptions {
  output: string;
  op?: string;
  magnitude?: string;
  eval?: boolean;
  recipe?: string;
  grid?: string;
  seed?: string;
}

const NO_MAGNITUDE: ReadonlySet<TaWideOp> = new Set(['Identity', 'AutoContrast', 'Equalize']);

/** Resolve an op name case-insensitively; unknown names list the valid ones. */
export function parseOp(name: string): TaWideOp {
  const op = TA_WIDE_OPS.find((o) => o.toLowerCase() === name.toLowerCase());
  if (!op) {
    throw new InputError(`unknown TrivialAugmentWide op "${name}"`, [
      { path: '--op', message: `must be one of ${TA_WIDE_OPS.join(', ')}` },
    ]);
  }
  return op;
}

/** Check a signed magnitude against the op's range in TrivialAugmentWide. */
export function parseMagnitude(op: TaWideOp, raw: string | undefined): number {
  if (raw === undefined) {
    if (NO_MAGNITUDE.has(op)) return 0;
    throw new InputError(`--op ${op} needs --magnitude`, [
      { path: '--magnitude', message: rangeText(op) },
    ]);
  }
  const m = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(m)) {
    throw new InputError(`magnitude "${raw}" is not a number`, [
      { path: '--magnitude', message: rangeText(op) },
    ]);
  }
  const [lo, hi] = TA_WIDE_MAGNITUDE_RANGE[op];
  if (m < lo || m > hi || (op === 'Posterize' && !Number.isInteger(m))) {
    throw new InputError(`magnitude ${m} is out of range for ${op}`, [
      { path: '--magnitude', message: rangeText(op) },
    ]);
  }
  return m;
}

function rangeText(op: TaWideOp): string {
  const [lo, hi] = TA_WIDE_MAGNITUDE_RANGE[op];
  if (NO_MAGNITUDE.has(op)) return `${op} takes no magnitude (0 or omitted)`;
  if (op === 'Posterize') return `bits, an integer in ${lo}..${hi}`;
  if (op === 'Solarize') return `threshold in ${lo}..${hi}`;
  if (op === 'Rotate') return `degrees in ${lo}..${hi}`;
  if (op === 'TranslateX' || op === 'TranslateY') return `pixels in ${lo}..${hi}`;
  if (op === 'ShearX' || op === 'ShearY') return `shear factor in ${lo}..${hi}`;
  return `m in ${lo}..${hi} (factor 1 + m)`;
}

async function readImage(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      code === 'ENOENT'
        ? `image not found: ${path}`
        : `cannot read image ${path}: ${(err as Error).message}`,
      [],
      { cause: err },
    );
  }
}

async function recipeOf(path: string | undefined): Promise<Readonly<Recipe>> {
  if (!path) return defaultRecipe();
  return (await loadTrainingRecipeFile(path)).spec.recipe;
}

async function writePng(img: RgbImage, path: string): Promise<void> {
  await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toFile(path);
}

/** The N×N contact sheet: `n*n` draws of the train transform, 4-pixel gaps. */
export async function contactSheet(
  encoded: Uint8Array,
  recipe: Readonly<Recipe>,
  n: number,
  seed: number,
): Promise<RgbImage> {
  const cfg = transformConfigFromRecipe(recipe, 'train');
  const transform = makeTrainTransform(cfg);
  const gap = 4;
  const tile = cfg.cropSize;
  const side = n * tile + (n + 1) * gap;
  const sheet = new Uint8Array(side * side * 3).fill(255);
  for (let k = 0; k < n * n; k++) {
    const out = await transform(encoded, new Rng(seed, k));
    const img = denormalize(out.data, out.width, out.height, cfg.mean, cfg.std);
    const x0 = gap + (k % n) * (tile + gap);
    const y0 = gap + Math.floor(k / n) * (tile + gap);
    for (let y = 0; y < img.height; y++) {
      sheet.set(
        img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3),
        ((y0 + y) * side + x0) * 3,
      );
    }
  }
  return { data: sheet, width: side, height: side, channels: 3 };
}

export async function runAugment(image: string, opts: AugmentOptions): Promise<string> {
  const modes = [opts.op !== undefined, opts.eval === true, opts.grid !== undefined].filter(
    Boolean,
  );
  if (modes.length !== 1) {
    throw new InputError('choose exactly one of --op, --eval, --grid', [
      {
        path: 'options',
        message: '--op NAME --magnitude M | --eval [--recipe R] | --recipe R --grid N [--seed S]',
      },
    ]);
  }
  if (opts.magnitude !== undefined && opts.op === undefined) {
    throw new InputError('--magnitude goes with --op');
  }
  if (opts.seed !== undefined && opts.grid === undefined)
    throw new InputError('--seed goes with --grid');
  if (opts.op !== undefined) {
    const op = parseOp(opts.op);
    const magnitude = parseMagnitude(op, opts.magnitude);
    if (opts.recipe) throw new InputError('--recipe does not go with --op');
    const img = await decodeRgb(await readImage(image));
    await writePng(applyTaOp(img, op, magnitude, 'bilinear'), opts.output);
    return `${op}(${magnitude}) → ${opts.output}`;
  }
  if (opts.eval) {
    const recipe = await recipeOf(opts.recipe);
    const img = await decodeRgb(await readImage(image));
    const out = evalResizeCrop(img, recipe.valResizeSize, recipe.valCropSize, recipe.interpolation);
    await writePng(out, opts.output);
    return `eval: resize ${recipe.valResizeSize}, center crop ${recipe.valCropSize} → ${opts.output}`;
  }
  if (!opts.recipe) throw new InputError('--grid needs --recipe R');
  const n = intFlag('--grid', { min: 1, max: 16 })(opts.grid!);
  const seed =
    opts.seed === undefined ? 0 : intFlag('--seed', { min: 0, max: 2 ** 32 - 1 })(opts.seed);
  const recipe = await recipeOf(opts.recipe);
  const sheet = await contactSheet(await readImage(image), recipe, n, seed);
  await writePng(sheet, opts.output);
  return `${n}×${n} training augmentations (seed ${seed}) → ${opts.output}`;
}

export function register(program: Command): void {
  program
    .command('augment')
    .description(
      'Apply one TrivialAugmentWide op, the eval transform, or a grid of training augmentations to an image',
    )
    .argument('<image>', 'input image (JPEG, PNG, …)')
    .requiredOption('-o, --output <png>', 'output PNG')
    .option('--op <name>', `one TrivialAugmentWide op: ${TA_WIDE_OPS.join(', ')}`)
    .option(
      '--magnitude <m>',
      'signed magnitude as torchvision passes it (e.g. Rotate 30 = degrees)',
    )
    .option('--eval', 'the evaluation transform (Resize + CenterCrop)')
    .option('--recipe <file>', 'TrainingRecipe (YAML/JSON) for --eval or --grid')
    .option('--grid <n>', 'an N×N contact sheet of training augmentations (needs --recipe)')
    .option('--seed <s>', 'seed of the contact sheet', undefined)
    .action(async (image: string, opts: AugmentOptions) => {
      console.log(await runAugment(image, opts));
    });
}
