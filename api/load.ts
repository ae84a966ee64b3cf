/**
 * Parse a TrainingRecipe once at the edge (CLI, worker start-up, operator) into a typed,
 * defaulted, frozen value. Every problem is reported at once, by path, so a user fixes a
 * recipe in one round instead of one error per run.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, basename } from 'node:path';
import { type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { parseAllDocuments } from 'yaml';
import { canonicalJson } from '../common/canonical-json.js';
import { InputError, NotFoundError, type InputIssue } from '../common/errors.js';
import {
  NON_HYPERPARAMETER_FIELDS,
  RecipeSchema,
  TrainingRecipeSpecSchema,
  type Recipe,
  type TrainingRecipeSpec,
} from './schema.js';
import { CROSS_FIELD_RULES } from './rules.js';
import { API_VERSION, KIND } from './names.js';

/** The manifest's metadata as given (name, namespace, labels, …); `{}` for a bare spec. */
export interface RecipeMetadata {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly [key: string]: unknown;
}

export interface ParsedTrainingRecipe {
  readonly metadata: RecipeMetadata;
  readonly spec: Readonly<TrainingRecipeSpec>;
}

const MANIFEST_KEYS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

/**
 * Accepts a full manifest (apiVersion/kind/metadata/spec; a `status` is ignored) or a bare
 * spec. Applies defaults, rejects unknown fields at any depth, runs the cross-field rules.
 * Issue paths are rooted at `spec.` for both forms (`spec.recipe.lr`), matching the CRD.
 */
export function parseTrainingRecipe(obj: unknown, source = 'recipe'): ParsedTrainingRecipe {
  const issues: InputIssue[] = [];
  let metadata: RecipeMetadata = {};
  let rawSpec: unknown;

  if (!isPlainObject(obj)) {
    throw new InputError(`invalid TrainingRecipe in ${source}: expected a mapping`, [
      { path: '(root)', message: `must be an object (got ${describeValue(obj)})` },
    ]);
  }
  const looksLikeManifest = 'apiVersion' in obj || 'kind' in obj || 'spec' in obj;
  if (looksLikeManifest) {
    if (obj.apiVersion !== API_VERSION) {
      issues.push({
        path: 'apiVersion',
        message: `must be ${API_VERSION} (got ${describeValue(obj.apiVersion)})`,
      });
    }
    if (obj.kind !== KIND) {
      issues.push({ path: 'kind', message: `must be ${KIND} (got ${describeValue(obj.kind)})` });
    }
    for (const key of Object.keys(obj)) {
      if (!MANIFEST_KEYS.has(key)) issues.push({ path: key, message: 'unknown field' });
    }
    if (obj.metadata !== undefined) {
      if (!isPlainObject(obj.metadata)) {
        issues.push({
          path: 'metadata',
          message: `must be an object (got ${describeValue(obj.metadata)})`,
        });
      } else {
        metadata = obj.metadata as RecipeMetadata;
        if (metadata.name !== undefined && typeof metadata.name !== 'string') {
          issues.push({ path: 'metadata.name', message: 'must be a string' });
        }
      }
    }
    if (obj.spec === undefined) issues.push({ path: 'spec', message: 'is required' });
    rawSpec = obj.spec;
  } else {
    rawSpec = obj;
  }

  let spec: TrainingRecipeSpec | undefined;
  if (rawSpec !== undefined) {
    const defaulted = Value.Default(TrainingRecipeSpecSchema, Value.Clone(rawSpec));
    const schemaIssues = schemaErrors(TrainingRecipeSpecSchema, defaulted, 'spec');
    issues.push(...schemaIssues, ...crossFieldIssues(defaulted, 'spec', schemaIssues));
    if (schemaIssues.length === 0) spec = defaulted as TrainingRecipeSpec;
  }

  if (issues.length > 0 || spec === undefined) {
    const n = issues.length;
    throw new InputError(
      `invalid TrainingRecipe in ${source}: ${n} problem${n === 1 ? '' : 's'}`,
      issues,
    );
  }
  return deepFreeze({ metadata: Value.Clone(metadata), spec });
}

/** Validates and defaults the hyperparameters alone (paths rooted at `recipe.`). */
export function parseRecipe(obj: unknown, source = 'recipe'): Readonly<Recipe> {
  const defaulted = Value.Default(RecipeSchema, Value.Clone(obj ?? {}));
  const schemaIssues = schemaErrors(RecipeSchema, defaulted, 'recipe');
  const issues = [
    ...schemaIssues,
    ...crossFieldIssues({ recipe: defaulted }, '', schemaIssues, 'recipe'),
  ];
  if (issues.length > 0) {
    throw new InputError(`invalid recipe in ${source}: ${issues.length} problem(s)`, issues);
  }
  return deepFreeze(defaulted as Recipe);
}

/** The final recipe of RECIPE.md: every hyperparameter at its default. */
export function defaultRecipe(): Readonly<Recipe> {
  return parseRecipe({}, 'defaults');
}

/** Reads a YAML or JSON file holding one TrainingRecipe (manifest or bare spec). */
export async function loadTrainingRecipeFile(path: string): Promise<ParsedTrainingRecipe> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError(`recipe file not found: ${path}`, { cause: err });
    }
    throw new InputError(`cannot read recipe file ${path}: ${(err as Error).message}`, [], {
      cause: err,
    });
  }
  return parseTrainingRecipe(parseDocument(text, path), path);
}

/** One YAML (or, by extension, JSON) document from a file's text. */
export function parseDocument(text: string, path: string): unknown {
  if (extname(path).toLowerCase() === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new InputError(`${path} is not valid JSON: ${(err as Error).message}`, [], {
        cause: err,
      });
    }
  }
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) {
    throw new InputError(`${path} holds no YAML document`);
  }
  const nonEmpty = docs.filter((d) => d.contents !== null);
  const yamlIssues: InputIssue[] = [];
  for (const d of docs) {
    for (const e of d.errors)
      yamlIssues.push({ path: `line ${e.linePos?.[0].line ?? '?'}`, message: e.message });
  }
  if (yamlIssues.length > 0) throw new InputError(`${path} is not valid YAML`, yamlIssues);
  if (nonEmpty.length !== 1) {
    throw new InputError(`${path} must hold exactly one YAML document (found ${nonEmpty.length})`);
  }
  return nonEmpty[0]!.toJS({ maxAliasCount: 100 }) as unknown;
}

/** Human name for a recipe given as a bare spec: the file name without extension. */
export function nameFromSource(source: string): string {
  return basename(source, extname(source));
}

/**
 * sha256 (hex) of the canonical JSON of the hyperparameters (sorted keys, no whitespace),
 * leaving out fields that do not change what is learned (checkpoint cadence). A checkpoint
 * records it; resuming under a different hash is refused.
 */
export function recipeHash(recipe: Recipe): string {
  const hyper: Record<string, unknown> = { ...recipe };
  for (const key of NON_HYPERPARAMETER_FIELDS) delete hyper[key];
  return createHash('sha256').update(canonicalJson(hyper)).digest('hex');
}

// ---------------------------------------------------------------------------------------------

/**
 * Cross-field rules over a (possibly partly invalid) spec. A rule runs when every field it
 * reads passed the schema, so a user sees rule violations next to type errors in one report.
 */
function crossFieldIssues(
  spec: unknown,
  root: string,
  schemaIssues: readonly InputIssue[],
  onlyScope?: 'recipe',
): InputIssue[] {
  const issues: InputIssue[] = [];
  if (!isPlainObject(spec)) return issues;
  const join = (a: string, b: string) => (a === '' ? b : `${a}.${b}`);
  for (const rule of CROSS_FIELD_RULES) {
    if (onlyScope !== undefined && rule.scope !== onlyScope) continue;
    const scopePath = rule.scope === 'recipe' ? join(root, 'recipe') : root;
    const self = rule.scope === 'recipe' ? spec.recipe : spec;
    if (!isPlainObject(self)) continue;
    const broken = rule.uses.some((u) => {
      const p = join(scopePath, u);
      return schemaIssues.some(
        (i) => i.path === p || i.path.startsWith(`${p}.`) || i.path.startsWith(`${p}[`),
      );
    });
    if (broken || rule.check(self)) continue;
    issues.push({
      path: join(scopePath, rule.field),
      message: rule.describe ? rule.describe(self) : rule.message,
    });
  }
  return issues;
}

/** Every schema violation, one per path, with a message for people. */
export function schemaErrors(schema: TSchema, value: unknown, root: string): InputIssue[] {
  const seen = new Set<string>();
  const issues: InputIssue[] = [];
  for (const error of Value.Errors(schema, value)) {
    const path = pointerToPath(root, error.path);
    if (seen.has(path)) continue;
    seen.add(path);
    issues.push({ path, message: describeSchemaError(error) });
  }
  return issues;
}

function pointerToPath(root: string, pointer: string): string {
  let out = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function describeSchemaError(e: ValueError): string {
  const s = e.schema as Record<string, any>;
  const got = ` (got ${describeValue(e.value)})`;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.ObjectAdditionalProperties:
      return 'unknown field';
    case ValueErrorType.Union: {
      const literals = (s.anyOf as Array<Record<string, unknown>>).map((v) => v.const);
      if (literals.every((v) => typeof v === 'string'))
        return `must be one of ${literals.join(', ')}${got}`;
      if (s['x-kubernetes-int-or-string']) return `must be an integer or a string${got}`;
      return `does not match any allowed form${got}`;
    }
    case ValueErrorType.Literal:
      return `must be ${String(s.const)}${got}`;
    case ValueErrorType.Integer:
      return `must be an integer${got}`;
    case ValueErrorType.Number:
      return `must be a number${got}`;
    case ValueErrorType.Boolean:
      return `must be true or false${got}`;
    case ValueErrorType.String:
      return `must be a string${got}`;
    case ValueErrorType.Object:
      return `must be an object${got}`;
    case ValueErrorType.Array:
      return `must be a list${got}`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `must be ≥ ${s.minimum}${got}`;
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMinimum:
      return `must be > ${s.exclusiveMinimum}${got}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `must be ≤ ${s.maximum}${got}`;
    case ValueErrorType.NumberExclusiveMaximum:
    case ValueErrorType.IntegerExclusiveMaximum:
      return `must be < ${s.exclusiveMaximum}${got}`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1
        ? 'must not be empty'
        : `must have at least ${s.minLength} characters`;
    default:
      return `${e.message}${got}`;
  }
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

/** data.train of a recipe that trains (the schema lets only mode: eval go without it). */
export function trainData(spec: Pick<TrainingRecipeSpec, 'data' | 'mode'>): string {
  if (spec.data.train === undefined) {
    throw new InputError('this recipe has no training data', [
      {
        path: 'spec.data.train',
        message:
          spec.mode === 'eval'
            ? 'mode: eval does not train; the workers evaluate spec.eval.weights instead'
            : 'is required to train',
      },
    ]);
  }
  return spec.data.train;
}
