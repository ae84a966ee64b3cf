/**
 * The weights registry's two files (ADR 0103). Under the registry's prefix:
 *
 *   index.json                          { format, entries: { <name>: IndexRow } }
 *   weights/<name>/<id>/model.safetensors   the weights, as published (torchvision names)
 *   weights/<name>/<id>/meta.json           the artifact's meta.json (so the directory is an
 *                                           ordinary weights artifact too)
 *   weights/<name>/<id>/entry.json          WeightsEntry: what torchvision's `weights.meta`
 *                                           and `weights.transforms()` carry
 *
 * `<id>` is the first 16 hex digits of the sha256 of entry.json's canonical JSON, so an
 * artifact directory is never rewritten: `--force` publishes a new one and moves the name.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SeedSummarySchema } from '../../api/status.js';
import { InputError } from '../../common/errors.js';

export const REGISTRY_FORMAT = 'ringmaster.weights-registry/v1';
export const REGISTRY_INDEX = 'index.json';
export const ENTRY_FILE = 'entry.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const META_FILE = 'meta.json';

/** resnet50.IMAGENET1K_V2, resnet_mini.SHAPES_V1: letters, digits, '.', '_', '-'. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

export const TransformsSchema = Type.Object({
  resizeSize: Type.Integer({ minimum: 1 }),
  cropSize: Type.Integer({ minimum: 1 }),
  interpolation: Type.String(),
  mean: Type.Array(Type.Number(), { minItems: 3, maxItems: 3 }),
  std: Type.Array(Type.Number(), { minItems: 3, maxItems: 3 }),
});
export type Transforms = Static<typeof TransformsSchema>;

/** Figures of the published weights on one dataset (percent), as torchvision's `_metrics`. */
export const DatasetMetricsSchema = Type.Object({
  acc1: Type.Union([Type.Number(), Type.Null()]),
  acc5: Type.Union([Type.Number(), Type.Null()]),
  /** When the run was one of several seeds: their summary (the weights are one seed's). */
  seeds: Type.Optional(SeedSummarySchema),
});
export type DatasetMetrics = Static<typeof DatasetMetricsSchema>;

export const WeightsEntrySchema = Type.Object({
  format: Type.Literal(REGISTRY_FORMAT),
  name: Type.String({ pattern: NAME_PATTERN }),
  arch: Type.String(),
  numClasses: Type.Integer({ minimum: 1 }),
  categories: Type.Array(Type.String()),
  /** Trainable parameters, as torchvision's `num_params`. */
  numParams: Type.Integer({ minimum: 0 }),
  /** Multiply-accumulates of conv + linear layers at the eval crop, in 10⁹ (`_ops`). */
  gflops: Type.Number({ minimum: 0 }),
  transforms: TransformsSchema,
  /** Dataset name → figures. */
  metrics: Type.Record(Type.String(), DatasetMetricsSchema),
  /** The Ringmaster recipe that trained them and its hash (api/load.ts recipeHash); null for imports. */
  recipe: Type.Union([
    Type.Object({ spec: Type.Record(Type.String(), Type.Unknown()), sha256: Sha256 }),
    Type.Null(),
  ]),
  /** Where they came from: the artifact's URI and what its meta.json said about it. */
  source: Type.Object({
    artifact: Type.String(),
    /** The EMA's weights (true) or the model's. */
    ema: Type.Optional(Type.Boolean()),
    epoch: Type.Optional(Type.Integer({ minimum: 0 })),
    selectedBy: Type.Optional(Type.Object({ metric: Type.String(), value: Type.Number() })),
    checkpoint: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    /** For imported weights: the upstream description (e.g. torchvision's recipe URL). */
    origin: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
  file: Type.Object({ sha256: Sha256, bytes: Type.Integer({ minimum: 0 }) }),
  publishedAt: Type.String(),
});
export type WeightsEntry = Static<typeof WeightsEntrySchema>;

/** index.json's row of one name: where its entry is, and enough to list it. */
export const IndexRowSchema = Type.Object({
  /** The artifact directory, relative to the registry: weights/<name>/<id>. */
  dir: Type.String(),
  /** sha256 of entry.json's bytes (checked when resolved). */
  entrySha256: Sha256,
  weightsSha256: Sha256,
  arch: Type.String(),
  numClasses: Type.Integer({ minimum: 1 }),
  numParams: Type.Integer({ minimum: 0 }),
  gflops: Type.Number({ minimum: 0 }),
  metrics: Type.Record(Type.String(), DatasetMetricsSchema),
  publishedAt: Type.String(),
});
export type IndexRow = Static<typeof IndexRowSchema>;

export const RegistryIndexSchema = Type.Object({
  format: Type.Literal(REGISTRY_FORMAT),
  entries: Type.Record(Type.String({ pattern: NAME_PATTERN }), IndexRowSchema),
});
export type RegistryIndex = Static<typeof RegistryIndexSchema>;

export function emptyIndex(): RegistryIndex {
  return { format: REGISTRY_FORMAT, entries: {} };
}

function parse<T>(schema: Parameters<typeof Value.Check>[0], text: string, where: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${where} is not valid JSON`, [], { cause: err });
  }
  if (!Value.Check(schema, value)) {
    const issues = [...Value.Errors(schema, value)]
      .slice(0, 10)
      .map((e) => ({ path: e.path || '/', message: e.message }));
    throw new InputError(`${where} is not a ${REGISTRY_FORMAT} file`, issues);
  }
  return value as T;
}

export const parseIndex = (text: string, where: string): RegistryIndex =>
  parse<RegistryIndex>(RegistryIndexSchema, text, where);

export const parseEntry = (text: string, where: string): WeightsEntry =>
  parse<WeightsEntry>(WeightsEntrySchema, text, where);

/** Refuses a name the index could not hold (exit 2, naming the flag). */
export function checkName(name: string): void {
  if (!new RegExp(NAME_PATTERN).test(name)) {
    throw new InputError(`invalid weights name "${name}"`, [
      {
        path: '--name',
        message:
          'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 128 (e.g. resnet50.IMAGENET1K_V2)',
      },
    ]);
  }
}

/** The row index.json keeps for an entry. */
export function indexRow(entry: WeightsEntry, dir: string, entrySha256: string): IndexRow {
  return {
    dir,
    entrySha256,
    weightsSha256: entry.file.sha256,
    arch: entry.arch,
    numClasses: entry.numClasses,
    numParams: entry.numParams,
    gflops: entry.gflops,
    metrics: entry.metrics,
    publishedAt: entry.publishedAt,
  };
}
