/**
 * Seeds as one object (spec.seeds): which runs a recipe with seeds makes, where each one
 * writes, and the summary of their final metrics. The local launcher (`ringmaster train
 * --local --seeds`) and the operator (one child TrainingRecipe per seed) both use it, so a
 * seed's run and the summary are the same in both places.
 */
import { describe } from '../common/stats.js';
import { SEED_DIR_PREFIX } from './names.js';
import type { TrainingRecipeSpec } from './schema.js';
import type { RecipeMetrics, SeedSummary, Spread } from './status.js';

/** The seeds a spec trains: spec.seeds, else the recipe's one seed. */
export function seedsOf(spec: Pick<TrainingRecipeSpec, 'seeds' | 'recipe'>): number[] {
  return spec.seeds ? [...spec.seeds] : [spec.recipe.seed];
}

/** `<output>/seed-<n>`, for local paths and s3:// URIs alike. */
export function seedOutput(output: string, seed: number): string {
  return `${output.replace(/\/+$/, '')}/${SEED_DIR_PREFIX}${seed}`;
}

/**
 * The spec of seed n's run: the recipe with `seed: n`, output `<output>/seed-<n>`, no seeds
 * of its own (so it is one ordinary run, with the recipe's runPolicy for its retries).
 */
export function seedRunSpec(spec: Readonly<TrainingRecipeSpec>, seed: number): TrainingRecipeSpec {
  const { seeds: _seeds, parallelism: _parallelism, ...rest } = spec;
  return {
    ...structuredClone(rest),
    recipe: { ...spec.recipe, seed },
    output: seedOutput(spec.output, seed),
    parallelism: 1,
  };
}

/** How one seed's run ended: its final metrics, or why it failed. */
export interface SeedOutcome {
  seed: number;
  ok: boolean;
  metrics?: RecipeMetrics;
  message?: string;
}

const FIGURES = ['acc1', 'acc5', 'emaAcc1', 'emaAcc5'] as const;

function spread(values: number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const d = describe(values);
  return {
    n: d.n,
    mean: d.mean,
    ...(Number.isFinite(d.sd) ? { sd: d.sd } : {}),
    median: d.median,
    min: d.min,
    max: d.max,
  };
}

/**
 * n, mean, sd, median, min, max of each final figure over the seeds that succeeded. A failed
 * seed is counted in `failed` and never averaged in; a figure a run did not report (EMA
 * off) is left out.
 */
export function summarizeSeeds(outcomes: readonly SeedOutcome[]): SeedSummary {
  const ok = outcomes.filter((o) => o.ok);
  const out: SeedSummary = { n: ok.length, failed: outcomes.length - ok.length };
  for (const f of FIGURES) {
    const values = ok
      .map((o) => o.metrics?.[f])
      .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    const s = spread(values);
    if (s) out[f] = s;
  }
  const head = out.emaAcc1 ?? out.acc1;
  if (head) out.headline = formatSpread(head);
  return out;
}

/** "80.12 ± 0.08 (3)"; one value: "80.12 (1)". */
export function formatSpread(
  s: Pick<Spread, 'n' | 'mean' | 'sd'> & Partial<Spread>,
  digits = 2,
): string {
  const sd = s.sd === undefined ? '' : ` ± ${s.sd.toFixed(digits)}`;
  return `${s.mean.toFixed(digits)}${sd} (${s.n})`;
}
