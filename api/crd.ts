/**
 * The CustomResourceDefinitions, generated from the one schema: TrainingRecipe from
 * api/schema.ts and api/status.ts, TrainingStudy from api/study.ts.
 * `scripts/gen-crd.ts` writes it to crds/ and to the Helm chart; a test fails when the
 * committed files differ from `crdYaml()`.
 *
 * TypeBox emits JSON Schema 2019; a CRD wants a *structural* OpenAPI v3 schema. The
 * translation: unions of string literals → `enum`; Records → `additionalProperties`;
 * numeric `exclusiveMinimum: x` → `minimum: x, exclusiveMinimum: true`;
 * `additionalProperties: false` is dropped (the API server prunes unknown fields and, with
 * kubectl's default strict field validation, rejects them); properties with a default are not
 * listed as required (the server defaults before it validates); an object's default is
 * written out with its properties' defaults.
 */
import { stringify } from 'yaml';
import { TrainingRecipeSpecSchema } from './schema.js';
import { TrainingRecipeStatusSchema } from './status.js';
import { TrainingStudySpecSchema, TrainingStudyStatusSchema } from './study.js';
import {
  CATEGORIES,
  CRD_NAME,
  GROUP,
  KIND,
  LIST_KIND,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  STUDY_CRD_NAME,
  STUDY_KIND,
  STUDY_LIST_KIND,
  STUDY_PLURAL,
  STUDY_SHORT_NAMES,
  STUDY_SINGULAR,
  VERSION,
} from './names.js';

type JsonSchema = Record<string, any>;

export const PRINTER_COLUMNS = Object.freeze([
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Epoch', type: 'integer', jsonPath: '.status.progress.epoch' },
  { name: 'Epochs', type: 'integer', jsonPath: '.status.progress.epochs' },
  { name: 'Acc@1', type: 'number', jsonPath: '.status.metrics.acc1' },
  { name: 'EMA Acc@1', type: 'number', jsonPath: '.status.metrics.emaAcc1' },
  // With spec.seeds: EMA Acc@1 over the seeds, "80.12 ± 0.08 (3)".
  { name: 'Seeds Acc@1', type: 'string', jsonPath: '.status.summary.headline' },
  { name: 'Model', type: 'string', jsonPath: '.spec.recipe.model', priority: 1 },
  { name: 'Workers', type: 'integer', jsonPath: '.spec.workers', priority: 1 },
  { name: 'Message', type: 'string', jsonPath: '.status.message' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
]);

/** TypeBox (JSON Schema 2019) → structural OpenAPI v3 schema for a CRD. */
export function toStructuralSchema(schema: unknown): JsonSchema {
  // The JSON round trip drops TypeBox's symbol keys ([Kind], [OptionalKind]).
  return convert(JSON.parse(JSON.stringify(schema)) as JsonSchema);
}

function convert(s: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  if (Array.isArray(s.anyOf)) {
    if (s['x-kubernetes-int-or-string']) {
      copyAnnotations(s, out);
      out['x-kubernetes-int-or-string'] = true;
      out.anyOf = [{ type: 'integer' }, { type: 'string' }];
      return out;
    }
    const values = s.anyOf.map((v: JsonSchema) => v.const);
    if (!values.every((v: unknown) => typeof v === 'string')) {
      throw new Error(`cannot express this union in a structural schema: ${JSON.stringify(s)}`);
    }
    out.type = 'string';
    out.enum = values;
    copyAnnotations(s, out);
    return out;
  }
  if (typeof s.const === 'string') {
    // A one-value enum: TypeBox collapses a one-member union into its literal.
    out.type = 'string';
    out.enum = [s.const];
    copyAnnotations(s, out);
    return out;
  }
  for (const [key, value] of Object.entries(s)) {
    switch (key) {
      case 'properties':
        out.properties = Object.fromEntries(
          Object.entries(value as JsonSchema).map(([k, v]) => [k, convert(v as JsonSchema)]),
        );
        break;
      case 'items':
        out.items = convert(value as JsonSchema);
        break;
      case 'patternProperties': {
        const entries = Object.values(value as JsonSchema);
        if (entries.length !== 1)
          throw new Error('only Records with one key pattern are supported');
        out.additionalProperties = convert(entries[0] as JsonSchema);
        break;
      }
      case 'additionalProperties':
        if (typeof value === 'object') out.additionalProperties = convert(value as JsonSchema);
        break;
      case 'exclusiveMinimum':
        out.minimum = value;
        out.exclusiveMinimum = true;
        break;
      case 'exclusiveMaximum':
        out.maximum = value;
        out.exclusiveMaximum = true;
        break;
      case 'minimum':
        if (!('exclusiveMinimum' in s)) out.minimum = value;
        break;
      case 'maximum':
        if (!('exclusiveMaximum' in s)) out.maximum = value;
        break;
      case 'required':
        break; // below, once properties are known
      case '$id':
      case '$schema':
        break;
      default:
        out[key] = value;
    }
  }
  if (out.properties && isPlainObject(out.default)) {
    out.default = withNestedDefaults(out.default, out);
  }
  if (Array.isArray(s.required) && s.properties) {
    const required = (s.required as string[]).filter((k) => !('default' in s.properties[k]));
    if (required.length > 0) out.required = required;
  }
  return sortKeys(out);
}

/**
 * An object default spelled out with the defaults of its properties. The API server checks a
 * default against the schema (CEL rules included) as written, without applying the nested
 * defaults first, so `default: {}` on the recipe would fail rules that read its fields.
 */
function withNestedDefaults(value: Record<string, unknown>, node: JsonSchema): JsonSchema {
  const out: Record<string, unknown> = { ...value };
  for (const [key, prop] of Object.entries(node.properties as Record<string, JsonSchema>)) {
    if (!(key in out) && 'default' in prop) out[key] = structuredClone(prop.default);
    if (isPlainObject(out[key]) && prop.properties) {
      out[key] = withNestedDefaults(out[key] as Record<string, unknown>, prop);
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function copyAnnotations(from: JsonSchema, to: JsonSchema): void {
  for (const k of ['description', 'default']) if (k in from) to[k] = from[k];
}

/** Stable key order (type first, then alphabetical) so the YAML diff stays readable. */
function sortKeys(s: JsonSchema): JsonSchema {
  const keys = Object.keys(s).sort((a, b) =>
    a === 'type' ? -1 : b === 'type' ? 1 : a.localeCompare(b),
  );
  return Object.fromEntries(keys.map((k) => [k, s[k]]));
}

export const STUDY_PRINTER_COLUMNS = Object.freeze([
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  // Full runs finished / planned, "3/13".
  { name: 'Done', type: 'string', jsonPath: '.status.done' },
  // The row with the highest Acc@1 mean, "ema 80.12 ± 0.08 (3)".
  { name: 'Best', type: 'string', jsonPath: '.status.best' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
]);

interface CrdKind {
  name: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: readonly string[];
  description: string;
  spec: unknown;
  status: unknown;
  printerColumns: ReadonlyArray<Record<string, unknown>>;
}

function crdOf(k: CrdKind): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: k.name },
    spec: {
      group: GROUP,
      names: {
        kind: k.kind,
        listKind: k.listKind,
        plural: k.plural,
        singular: k.singular,
        shortNames: [...k.shortNames],
        categories: [...CATEGORIES],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.printerColumns.map((c) => ({ ...c })),
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: k.description,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toStructuralSchema(k.spec),
                status: toStructuralSchema(k.status),
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}

export function buildCrd(): JsonSchema {
  return crdOf({
    name: CRD_NAME,
    kind: KIND,
    listKind: LIST_KIND,
    plural: PLURAL,
    singular: SINGULAR,
    shortNames: SHORT_NAMES,
    description: 'A recipe to train a ResNet-family classifier (torchvision reference recipe).',
    spec: TrainingRecipeSpecSchema,
    status: TrainingRecipeStatusSchema,
    printerColumns: PRINTER_COLUMNS,
  });
}

export function buildStudyCrd(): JsonSchema {
  return crdOf({
    name: STUDY_CRD_NAME,
    kind: STUDY_KIND,
    listKind: STUDY_LIST_KIND,
    plural: STUDY_PLURAL,
    singular: STUDY_SINGULAR,
    shortNames: STUDY_SHORT_NAMES,
    description:
      'An ablation study: a base recipe and a ladder of patches (or a grid), each variant ' +
      'trained over seeds as a child TrainingRecipe; the status is the ablation table.',
    spec: TrainingStudySpecSchema,
    status: TrainingStudyStatusSchema,
    printerColumns: STUDY_PRINTER_COLUMNS,
  });
}

export const CRD_HEADER =
  '# Generated by scripts/gen-crd.ts from api/schema.ts. Do not edit by hand:\n' +
  '# change the schema and run `npx tsx scripts/gen-crd.ts`.\n';

/**
 * YAML 1.1 quoting: Helm and kubectl read manifests with a YAML 1.1 parser, where a bare `n`,
 * `y`, `on` or `no` is a boolean (status.summary has a field `n`); 1.1 output quotes them.
 */
export function crdYaml(): string {
  return CRD_HEADER + stringify(buildCrd(), { lineWidth: 0, version: '1.1' });
}

// Starts with a document separator: `helm show crds` concatenates the chart's CRD files as
// they are, and this one follows the recipe's.
export const STUDY_CRD_HEADER =
  '---\n' +
  '# Generated by scripts/gen-crd.ts from api/study.ts. Do not edit by hand:\n' +
  '# change the schema and run `npx tsx scripts/gen-crd.ts`.\n';

export function studyCrdYaml(): string {
  return STUDY_CRD_HEADER + stringify(buildStudyCrd(), { lineWidth: 0, version: '1.1' });
}

/** Every generated CRD file (relative to the repository root) → its content. */
export function crdFiles(): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of ['crds', 'charts/ringmaster/crds']) {
    out.set(`${dir}/${GROUP}_${PLURAL}.yaml`, crdYaml());
    out.set(`${dir}/${GROUP}_${STUDY_PLURAL}.yaml`, studyCrdYaml());
  }
  return out;
}
