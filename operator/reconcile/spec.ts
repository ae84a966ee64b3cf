/**
 * The edge: a TrainingRecipe as the API server holds it has an untyped spec; the reconciler
 * parses it here, once per reconcile, and everything further in works on the typed result.
 * A spec that fails is not an error to retry but a fact for the plan (the recipe fails with
 * reason InvalidRecipe until its spec is fixed), so the outcome is data, not a throw.
 */
import { InputError, describeError, type InputIssue } from '../../common/errors.js';
import { parseTrainingRecipe } from '../../api/load.js';
import type { TrainingRecipeSpec } from '../../api/schema.js';
import { names } from './names.js';
import type { TrainingRecipeObject } from './types.js';

/** A TrainingRecipe with its spec parsed: either the valid, defaulted spec or why not. */
export type ParsedRecipe = Pick<TrainingRecipeObject, 'metadata' | 'status'> &
  (
    | { valid: true; spec: Readonly<TrainingRecipeSpec> }
    /** `invalid`: every problem, on one line (it becomes the Failed condition's message). */
    | { valid: false; invalid: string }
  );

export function parseRecipeObject(recipe: TrainingRecipeObject): ParsedRecipe {
  const { metadata, status } = recipe;
  const base = status === undefined ? { metadata } : { metadata, status };
  try {
    const { spec } = parseTrainingRecipe(recipe.spec, `${metadata.namespace}/${metadata.name}`);
    // With seeds, the pods are the seed children's: their names are the longest.
    const longestOwner = spec.seeds
      ? names.seedRecipe(metadata.name, Math.max(...spec.seeds))
      : metadata.name;
    const issues = childNameIssues(longestOwner, spec.workers, metadata.name);
    if (issues.length > 0) {
      throw new InputError(`invalid TrainingRecipe ${metadata.namespace}/${metadata.name}`, issues);
    }
    return { ...base, valid: true, spec };
  } catch (err) {
    const invalid =
      err instanceof InputError ? describeError(err).replace(/\n\s*/g, '; ') : describeError(err);
    return { ...base, valid: false, invalid };
  }
}

/**
 * What the CRD schema cannot check: the recipe's name must make valid child names. Pod
 * hostnames (`<name>-worker-<rank>`) are DNS labels of at most 63 characters, and the
 * Service name (`<name>-ring`) must start with a letter.
 */
export function childNameIssues(name: string, workers: number, own = name): InputIssue[] {
  const issues: InputIssue[] = [];
  const longest = names.pod(name, Math.max(0, workers - 1));
  if (longest.length > 63) {
    issues.push({
      path: 'metadata.name',
      message: `too long: pod hostname "${longest}" has ${longest.length} characters (max 63); use at most ${63 - (longest.length - own.length)}`,
    });
  }
  if (!/^[a-z]/.test(name)) {
    issues.push({
      path: 'metadata.name',
      message: 'must start with a letter (it names the headless Service)',
    });
  }
  return issues;
}
