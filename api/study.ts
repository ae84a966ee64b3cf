/**
 * The TrainingStudy API: an ablation study as one object. A base recipe (an inline
 * TrainingRecipe spec) and either an ordered ladder of named steps — each a patch of recipe
 * fields, step k = base + patches 1..k, the seed's ablation ladder — or a grid over recipe
 * fields (the cartesian product). Every variant is trained over the study's seeds; optional
 * screening runs every variant for a few epochs first and fully trains the best k.
 *
 * The status is the ablation table (api/study-table.ts). Expansion and validation live in
 * api/study-load.ts; the CRD is generated from these schemas like the recipe's (api/crd.ts).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { MAX_SEEDS, RecipeSchema, StringEnum, TrainingRecipeSpecSchema } from './schema.js';
import { ConditionSchema, PHASES } from './status.js';
import { DateTime } from './schema.js';

/** At most this many variants (rows) per study: steps + the base row, or the grid's product. */
export const MAX_VARIANTS = 64;

/** A recipe field's schema as a patch value: the same type and bounds, no default. */
function withoutDefault(s: TSchema): TSchema {
  const { default: _default, ...rest } = s as TSchema & { default?: unknown };
  return rest as TSchema;
}

const recipeFields = RecipeSchema.properties as Record<string, TSchema>;

/**
 * A patch of recipe fields: any subset of `spec.recipe`'s fields with their types and bounds
 * and no defaults (a patch says only what it changes). An unknown field is refused by name —
 * by the API server under kubectl's strict field validation, and by the loader.
 */
export const RecipePatchSchema = Type.Object(
  Object.fromEntries(
    Object.entries(recipeFields).map(([k, s]) => [k, Type.Optional(withoutDefault(s))]),
  ),
  {
    additionalProperties: false,
    minProperties: 1,
    description:
      'Recipe fields this step changes (spec.recipe names), e.g. {autoAugment: ta_wide}.',
  },
);

/** The grid: recipe field → the values to try; variants are the cartesian product. */
export const RecipeGridSchema = Type.Object(
  Object.fromEntries(
    Object.entries(recipeFields).map(([k, s]) => [
      k,
      Type.Optional(Type.Array(withoutDefault(s), { minItems: 1, maxItems: MAX_VARIANTS })),
    ]),
  ),
  {
    additionalProperties: false,
    minProperties: 1,
    description:
      'Recipe field → values; one variant per combination, fields varied in the order of ' +
      "spec.recipe's fields (the first field slowest). Named field=value,….",
  },
);

/** A row name: a DNS label, so it can name a folder and read well in kubectl. */
const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const StudyStepSchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 40,
      pattern: NAME_PATTERN,
      description: 'The row name (lower-case letters, digits, -).',
    }),
    description: Type.Optional(Type.String({ maxLength: 256 })),
    patch: RecipePatchSchema,
  },
  { additionalProperties: false },
);
export type StudyStep = Static<typeof StudyStepSchema>;

export const ScreeningSchema = Type.Object(
  {
    screenEpochs: Type.Integer({
      minimum: 1,
      maximum: 100000,
      description:
        'Epochs of the short screening run of every variant (the recipe compressed: the ' +
        'schedule spans screenEpochs, warmup capped at screenEpochs − 1).',
    }),
    keep: Type.Integer({
      minimum: 1,
      maximum: MAX_VARIANTS,
      description:
        'How many variants, best screened EMA Acc@1 first (Acc@1 without EMA), get the full run.',
    }),
  },
  { additionalProperties: false },
);
export type Screening = Static<typeof ScreeningSchema>;

export const STUDY_FIGURES = ['ema', 'model'] as const;

export const TrainingStudySpecSchema = Type.Object(
  {
    base: TrainingRecipeSpecSchema,
    baseName: Type.String({
      default: 'baseline',
      minLength: 1,
      maxLength: 40,
      pattern: NAME_PATTERN,
      description: 'With steps: the name of the first row, the base recipe itself.',
    }),
    steps: Type.Optional(
      Type.Array(StudyStepSchema, {
        minItems: 1,
        maxItems: MAX_VARIANTS - 1,
        description:
          'The ladder: rows base, base+step1, base+step1+step2, …; each row against the one above.',
        'x-kubernetes-validations': [
          {
            rule: 'self.all(x, self.exists_one(y, y.name == x.name))',
            message: 'step names must be distinct',
          },
        ],
      }),
    ),
    grid: Type.Optional(RecipeGridSchema),
    seeds: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 4294967295 }), {
        minItems: 1,
        maxItems: MAX_SEEDS,
        description:
          "Seeds each variant trains (its child recipe's spec.seeds); absent = base.seeds, else base.recipe.seed.",
      }),
    ),
    parallelism: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_SEEDS,
        description:
          "Seed runs at once per variant (the child's spec.parallelism); absent = base.parallelism.",
      }),
    ),
    concurrency: Type.Integer({
      minimum: 1,
      maximum: MAX_VARIANTS,
      default: 1,
      description: 'Variants trained at once (each needs parallelism × workers pods).',
    }),
    screening: Type.Optional(ScreeningSchema),
    figure: StringEnum(STUDY_FIGURES, {
      default: 'ema',
      description:
        'Which weights the table reports: ema (the model where a seed has no EMA) or model.',
    }),
  },
  {
    additionalProperties: false,
    'x-kubernetes-validations': [
      {
        rule: 'has(self.steps) != has(self.grid)',
        message: 'give either steps (a ladder) or grid (a cartesian product), not both',
      },
    ],
  },
);
export type TrainingStudySpec = Static<typeof TrainingStudySpecSchema>;

// ---- Status --------------------------------------------------------------------------------

/** A study's phases: a recipe's, plus Screening (the short runs before the full ones). */
export const STUDY_PHASES = [
  'Pending',
  'Screening',
  'Running',
  'Suspended',
  'Succeeded',
  'Failed',
] as const;
export type StudyPhase = (typeof STUDY_PHASES)[number];

const MeanSdSchema = Type.Object(
  { mean: Type.Number(), sd: Type.Optional(Type.Number()) },
  { additionalProperties: false },
);

/** One row of the ablation table (api/study-table.ts StudyRow). */
export const StudyRowSchema = Type.Object(
  {
    name: Type.String(),
    n: Type.Integer({ minimum: 0, description: 'Seeds that succeeded (the ones averaged).' }),
    acc1: MeanSdSchema,
    acc5: Type.Optional(MeanSdSchema),
    change: Type.Optional(
      Type.Object(
        {
          diff: Type.Number({ description: 'Acc@1 mean minus the row above.' }),
          t: Type.Optional(Type.Number({ description: "Welch's t (needs two seeds per row)." })),
          df: Type.Optional(Type.Number()),
          lo: Type.Optional(Type.Number({ description: '95% interval of diff, low end.' })),
          hi: Type.Optional(Type.Number()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** One variant's child recipe (full run or screening run). */
export const VariantStatusSchema = Type.Object(
  {
    name: Type.String(),
    recipe: Type.Optional(Type.String({ description: 'The child TrainingRecipe.' })),
    phase: StringEnum(PHASES),
    output: Type.Optional(Type.String()),
    /** Screening: mean screened EMA Acc@1 (Acc@1 without EMA) over the seeds that succeeded. */
    score: Type.Optional(Type.Number()),
    kept: Type.Optional(Type.Boolean({ description: 'Screening: chosen for the full run.' })),
  },
  { additionalProperties: false },
);
export type VariantStatus = Static<typeof VariantStatusSchema>;

export const TrainingStudyStatusSchema = Type.Object(
  {
    phase: Type.Optional(StringEnum(STUDY_PHASES)),
    conditions: Type.Optional(
      Type.Array(ConditionSchema, {
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ),
    screening: Type.Optional(
      Type.Array(VariantStatusSchema, { description: 'The screening runs, in variant order.' }),
    ),
    variants: Type.Optional(
      Type.Array(VariantStatusSchema, { description: 'The full runs, in row order.' }),
    ),
    figure: Type.Optional(Type.String({ description: 'Which weights the table reports.' })),
    table: Type.Optional(
      Type.Array(StudyRowSchema, {
        description: 'The ablation table: rows with at least one succeeded seed, in row order.',
      }),
    ),
    done: Type.Optional(Type.String({ description: 'Full runs finished / planned, e.g. 3/13.' })),
    best: Type.Optional(Type.String({ description: 'The row with the highest Acc@1 mean.' })),
    startTime: Type.Optional(DateTime()),
    completionTime: Type.Optional(DateTime()),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type TrainingStudyStatus = Static<typeof TrainingStudyStatusSchema>;

/** Condition reasons of a study (its condition types are the recipe's: Running, Succeeded, Failed). */
export const StudyReason = Object.freeze({
  InvalidStudy: 'InvalidStudy',
  VariantRunCreated: 'VariantRunCreated',
  Screening: 'Screening',
  ScreeningDone: 'ScreeningDone',
  VariantsRunning: 'VariantsRunning',
  AllVariantsSucceeded: 'AllVariantsSucceeded',
  VariantsFailed: 'VariantsFailed',
  SuspendedByUser: 'SuspendedByUser',
} as const);
export type StudyReason = (typeof StudyReason)[keyof typeof StudyReason];

/** The Screened condition: True once the screening runs finished and the k best are chosen. */
export const STUDY_CONDITION_SCREENED = 'Screened';
