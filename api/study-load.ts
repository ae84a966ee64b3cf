/**
 * A TrainingStudy parsed once at the edge (CLI, operator) and expanded into its variants: one
 * TrainingRecipe spec per row, each checked as a recipe, so a bad step is refused with its
 * path before anything runs or is written (exit 2 in the CLI, InvalidStudy in the operator).
 *
 * Ladder (steps): row 0 is the base, row k the base with patches 1..k applied in order.
 * Grid: one row per combination, fields in the order of spec.recipe's fields, the first
 * varying slowest. Each row trains the study's seeds into `<base.output>/<slug>/seed-<n>/`.
 */
import { readFile } from 'node:fs/promises';
import { Value } from '@sinclair/typebox/value';
import { InputError, NotFoundError, type InputIssue } from '../common/errors.js';
import {
  deepFreeze,
  describeValue,
  parseDocument,
  parseTrainingRecipe,
  schemaErrors,
} from './load.js';
import { API_VERSION, STUDY_KIND, STUDY_SCREEN_DIR } from './names.js';
import { RecipeSchema, type Recipe, type TrainingRecipeSpec } from './schema.js';
import { seedsOf } from './seeds.js';
import {
  MAX_VARIANTS,
  TrainingStudySpecSchema,
  type Screening,
  type TrainingStudySpec,
} from './study.js';

export interface StudyVariant {
  /** Row index, 0-based, in table order. */
  index: number;
  /** Row name: the base name or a step name; `field=value,…` for a grid. */
  name: string;
  /** Folder under the study's output: `NN-name` (ladder) or `NN` (grid). */
  slug: string;
  /** What this row changes against the base recipe (cumulative for a ladder). */
  patch: Readonly<Partial<Recipe>>;
  /** The child recipe's spec: the patched base, the study's seeds, output `<output>/<slug>`. */
  spec: TrainingRecipeSpec;
}

export interface ParsedTrainingStudy {
  readonly metadata: {
    readonly name?: string;
    readonly namespace?: string;
    readonly [k: string]: unknown;
  };
  readonly spec: Readonly<TrainingStudySpec>;
  readonly variants: readonly StudyVariant[];
}

const RECIPE_FIELDS = Object.keys(RecipeSchema.properties) as Array<keyof Recipe>;
const MANIFEST_KEYS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

const pad = (i: number) => String(i).padStart(2, '0');
const join = (output: string, dir: string) => `${output.replace(/\/+$/, '')}/${dir}`;

/** The grid's combinations, fields in recipe order, the first field varying slowest. */
export function gridCombinations(
  grid: Readonly<Record<string, readonly unknown[] | undefined>>,
): Array<Partial<Recipe>> {
  let combos: Array<Partial<Recipe>> = [{}];
  for (const field of RECIPE_FIELDS) {
    const values = grid[field];
    if (!values) continue;
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [field]: v })));
  }
  return combos;
}

/** Number of variants a study spec makes (before building them). */
export function variantCount(spec: Pick<TrainingStudySpec, 'steps' | 'grid'>): number {
  if (spec.steps) return spec.steps.length + 1;
  let n = 1;
  for (const values of Object.values(spec.grid ?? {}))
    n *= (values as unknown[] | undefined)?.length ?? 1;
  return n;
}

function variantSpec(
  spec: Readonly<TrainingStudySpec>,
  patch: Partial<Recipe>,
  slug: string,
): TrainingRecipeSpec {
  const base = structuredClone(spec.base) as TrainingRecipeSpec;
  return {
    ...base,
    recipe: { ...base.recipe, ...patch },
    output: join(base.output, slug),
    seeds: [...(spec.seeds ?? seedsOf(base))],
    parallelism: spec.parallelism ?? base.parallelism,
  };
}

/** The rows of a (schema-valid) study, in table order. */
export function expandStudy(spec: Readonly<TrainingStudySpec>): StudyVariant[] {
  if (spec.steps) {
    const rows: StudyVariant[] = [];
    let patch: Partial<Recipe> = {};
    const add = (name: string) => {
      const index = rows.length;
      const slug = `${pad(index)}-${name}`;
      rows.push({ index, name, slug, patch: { ...patch }, spec: variantSpec(spec, patch, slug) });
    };
    add(spec.baseName);
    for (const step of spec.steps) {
      patch = { ...patch, ...(step.patch as Partial<Recipe>) };
      add(step.name);
    }
    return rows;
  }
  return gridCombinations((spec.grid ?? {}) as Record<string, unknown[]>).map((patch, index) => {
    const slug = pad(index);
    const name = Object.entries(patch)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',');
    return { index, name, slug, patch, spec: variantSpec(spec, patch, slug) };
  });
}

/**
 * A variant's short screening run: the same recipe compressed to `screenEpochs` (the LR
 * schedule spans them; warmup capped at screenEpochs − 1), written to
 * `<output>/screen/<slug>/`.
 */
export function screeningRunSpec(
  study: Readonly<TrainingStudySpec>,
  variant: StudyVariant,
  screening: Screening,
): TrainingRecipeSpec {
  const spec = structuredClone(variant.spec);
  spec.recipe.epochs = screening.screenEpochs;
  spec.recipe.lrWarmupEpochs = Math.min(spec.recipe.lrWarmupEpochs, screening.screenEpochs - 1);
  spec.output = join(join(study.base.output, STUDY_SCREEN_DIR), variant.slug);
  return spec;
}

/**
 * Accepts a TrainingStudy manifest (apiVersion/kind/metadata/spec). Applies defaults, refuses
 * unknown fields at any depth (a step patching a field the recipe does not have is named by
 * its path, `spec.steps[2].patch.lrr: unknown field`), then checks every row as a recipe.
 */
export function parseTrainingStudy(obj: unknown, source = 'study'): ParsedTrainingStudy {
  const issues: InputIssue[] = [];
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new InputError(`invalid TrainingStudy in ${source}: expected a mapping`, [
      { path: '(root)', message: `must be an object (got ${describeValue(obj)})` },
    ]);
  }
  const o = obj as Record<string, unknown>;
  if (o.apiVersion !== API_VERSION) {
    issues.push({
      path: 'apiVersion',
      message: `must be ${API_VERSION} (got ${describeValue(o.apiVersion)})`,
    });
  }
  if (o.kind !== STUDY_KIND) {
    issues.push({ path: 'kind', message: `must be ${STUDY_KIND} (got ${describeValue(o.kind)})` });
  }
  for (const key of Object.keys(o)) {
    if (!MANIFEST_KEYS.has(key)) issues.push({ path: key, message: 'unknown field' });
  }
  const metadata =
    typeof o.metadata === 'object' && o.metadata !== null
      ? (o.metadata as Record<string, unknown>)
      : {};
  if (o.spec === undefined) issues.push({ path: 'spec', message: 'is required' });

  let spec: TrainingStudySpec | undefined;
  if (o.spec !== undefined) {
    const defaulted = Value.Default(TrainingStudySpecSchema, Value.Clone(o.spec));
    const schemaIssues = schemaErrors(TrainingStudySpecSchema, defaulted, 'spec');
    issues.push(...schemaIssues);
    if (schemaIssues.length === 0) {
      spec = defaulted as TrainingStudySpec;
      issues.push(...studyIssues(spec));
    }
  }
  if (issues.length > 0 || spec === undefined) {
    const n = issues.length;
    throw new InputError(
      `invalid TrainingStudy in ${source}: ${n} problem${n === 1 ? '' : 's'}`,
      issues,
    );
  }
  return deepFreeze({ metadata: Value.Clone(metadata), spec, variants: expandStudy(spec) });
}

/** What the schema cannot say: one of steps/grid, distinct names, sizes, and each row as a recipe. */
function studyIssues(spec: TrainingStudySpec): InputIssue[] {
  const issues: InputIssue[] = [];
  if ((spec.steps === undefined) === (spec.grid === undefined)) {
    issues.push({
      path: 'spec',
      message: 'give either steps (a ladder) or grid (a cartesian product), not both',
    });
    return issues;
  }
  const seen = new Set([spec.baseName]);
  spec.steps?.forEach((s, i) => {
    if (seen.has(s.name)) {
      issues.push({
        path: `spec.steps[${i}].name`,
        message: `"${s.name}" names two rows; row names must be distinct`,
      });
    }
    seen.add(s.name);
  });
  const n = variantCount(spec);
  if (n > MAX_VARIANTS) {
    issues.push({ path: 'spec.grid', message: `makes ${n} variants; at most ${MAX_VARIANTS}` });
  }
  if (spec.screening && spec.screening.keep >= n) {
    issues.push({
      path: 'spec.screening.keep',
      message: `must be < the number of variants (${n}); without fewer kept than screened, leave screening out`,
    });
  }
  if (issues.length > 0) return issues;

  // The base, then each row: a recipe each. A row's problem names the step (or grid field).
  const variants = expandStudy(spec);
  const baseIssues = recipeIssues(variants[0]!.spec, () => 'spec.base', spec);
  if (spec.steps && baseIssues.length > 0) return baseIssues;
  issues.push(...baseIssues);
  const reported = new Set(baseIssues.map((i) => i.message));
  for (const v of variants.slice(spec.steps ? 1 : 0)) {
    const at = (field: string) =>
      spec.steps ? `spec.steps[${v.index - 1}].patch.${field}` : `spec.grid.${field}`;
    for (const issue of recipeIssues(v.spec, at, spec)) {
      if (reported.has(issue.message)) continue;
      issues.push({ path: issue.path, message: `row "${v.name}": ${issue.message}` });
    }
    if (spec.screening) {
      const atScreen = () => 'spec.screening.screenEpochs';
      for (const issue of recipeIssues(screeningRunSpec(spec, v, spec.screening), atScreen, spec)) {
        issues.push({
          path: issue.path,
          message: `screening run of "${v.name}": ${issue.message}`,
        });
      }
    }
  }
  return issues;
}

/**
 * A row's spec checked as a TrainingRecipe. A problem in a recipe field is reported at
 * `at(field)` (the step's patch, the grid's field), with the recipe path in the message;
 * anything else at the base.
 */
function recipeIssues(
  child: TrainingRecipeSpec,
  at: (field: string) => string,
  study: TrainingStudySpec,
): InputIssue[] {
  try {
    parseTrainingRecipe(child, 'variant');
    return [];
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    return err.issues.map((i) => {
      const rel = i.path.replace(/^spec\.?/, '');
      if (rel.startsWith('seeds') && study.seeds)
        return { path: `spec.${rel}`, message: i.message };
      const field = /^recipe\.(\w+)/.exec(rel)?.[1];
      const path = at(field ?? '');
      if (path === 'spec.base' || field === undefined) {
        return { path: `spec.base.${rel}`, message: i.message };
      }
      return { path, message: `${i.path.replace(/^spec\./, '')} ${i.message}` };
    });
  }
}

/** Reads a YAML or JSON file holding one TrainingStudy manifest. */
export async function loadTrainingStudyFile(path: string): Promise<ParsedTrainingStudy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError(`study file not found: ${path}`, { cause: err });
    }
    throw new InputError(`cannot read study file ${path}: ${(err as Error).message}`, [], {
      cause: err,
    });
  }
  return parseTrainingStudy(parseDocument(text, path), path);
}
