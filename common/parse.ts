/**
 * The one parser for numbers and switches that arrive as text: environment variables (the
 * worker's and the operator's), command-line flags, data-URI parameters. Each parse function
 * returns the value or an issue that names the input, and never throws, so a caller can
 * collect every problem and report them together: `EnvReader` does that for an environment,
 * `intFlag`/`durationFlag` adapt a parser to commander (an InputError naming the flag), and
 * `checkInt` applies the integer rule to a number handed over in code (process-group options).
 *
 * Accepted text, everywhere the same:
 * - integers: decimal digits with an optional sign, `_` allowed between digits (1_281_167);
 * - durations: integer milliseconds, or a number with a unit — `ms`, `s`, `m`, `h` (90s, 1.5m);
 * - booleans: true/false, 1/0, yes/no (any case).
 * Surrounding whitespace is ignored; an empty string is not a value.
 */
import { InputError, type InputIssue } from './errors.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; issue: InputIssue };

export interface IntRule {
  /** What issues name: the variable, the flag, the parameter. */
  name: string;
  min?: number;
  max?: number;
}

/** Text for the accepted range, as in "must be a positive integer". */
function intRange(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `an integer in ${min}..${max}`;
  if (min === 0) return 'a non-negative integer';
  if (min === 1) return 'a positive integer';
  if (min !== undefined) return `an integer ≥ ${min}`;
  if (max !== undefined) return `an integer ≤ ${max}`;
  return 'an integer';
}

const INTEGER = /^[+-]?\d+(?:_\d+)*$/;

function fail<T>(name: string, what: string, raw: string): Parsed<T> {
  return {
    ok: false,
    issue: { path: name, message: `must be ${what} (got ${JSON.stringify(raw)})` },
  };
}

export function parseIntOption(raw: string, rule: IntRule): Parsed<number> {
  const text = raw.trim();
  const value = Number(text.replace(/_/g, ''));
  const { min, max } = rule;
  if (
    !INTEGER.test(text) ||
    !Number.isSafeInteger(value) ||
    (min !== undefined && value < min) ||
    (max !== undefined && value > max)
  ) {
    return fail(rule.name, intRange(min, max), raw);
  }
  return { ok: true, value };
}

/**
 * The same rule for a number given in code (an options object, not text): an issue naming
 * it, or undefined when it is a safe integer within the bounds.
 */
export function checkInt(value: unknown, rule: IntRule): InputIssue | undefined {
  const { min, max } = rule;
  const ok =
    typeof value === 'number' &&
    Number.isSafeInteger(value) &&
    (min === undefined || value >= min) &&
    (max === undefined || value <= max);
  return ok
    ? undefined
    : { path: rule.name, message: `must be ${intRange(min, max)} (got ${String(value)})` };
}

const DURATION = /^(\d+(?:_\d+)*(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** A duration in whole milliseconds (fractions of a unit round to the nearest one). */
export function parseDurationMs(raw: string, rule: IntRule): Parsed<number> {
  const { min = 0, max } = rule;
  const m = DURATION.exec(raw.trim());
  const value = m ? Math.round(Number(m[1]!.replace(/_/g, '')) * UNIT_MS[m[2] ?? 'ms']!) : NaN;
  if (!Number.isSafeInteger(value) || value < min || (max !== undefined && value > max)) {
    const range = max !== undefined ? `in ${min}..${max} ms` : `of at least ${min} ms`;
    return fail(
      rule.name,
      `a duration ${range}: milliseconds, or a number with ms, s, m or h`,
      raw,
    );
  }
  return { ok: true, value };
}

const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

export function parseBool(raw: string, rule: { name: string }): Parsed<boolean> {
  const text = raw.trim().toLowerCase();
  if (TRUE.has(text)) return { ok: true, value: true };
  if (FALSE.has(text)) return { ok: true, value: false };
  return fail(rule.name, 'true or false (1/0, yes/no)', raw);
}

type Env = Readonly<Record<string, string | undefined>>;
type Bounds = Omit<IntRule, 'name'>;

/**
 * Reads typed values from an environment and keeps every problem it meets: an unset or empty
 * variable takes its default, a bad one records an issue (and yields the default, so later
 * checks see a sane value). `check()` then throws one InputError that names them all.
 */
export class EnvReader {
  readonly issues: InputIssue[] = [];
  constructor(private readonly env: Env) {}

  /** The variable's text, or undefined when it is unset or empty. */
  text(name: string): string | undefined {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  }

  int(name: string, dflt: number, bounds: Bounds = {}): number {
    return this.read(name, dflt, (raw) => parseIntOption(raw, { name, ...bounds }));
  }

  durationMs(name: string, dflt: number, bounds: Bounds = {}): number {
    return this.read(name, dflt, (raw) => parseDurationMs(raw, { name, ...bounds }));
  }

  bool(name: string, dflt: boolean): boolean {
    return this.read(name, dflt, (raw) => parseBool(raw, { name }));
  }

  /** Records a problem the caller found (a rule across variables, a format of its own). */
  issue(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  /** Throws one InputError naming every problem recorded so far, if there is any. */
  check(message: string): void {
    if (this.issues.length > 0) throw new InputError(message, this.issues);
  }

  private read<T>(name: string, dflt: T, parse: (raw: string) => Parsed<T>): T {
    const raw = this.text(name);
    if (raw === undefined) return dflt;
    const r = parse(raw);
    if (r.ok) return r.value;
    this.issues.push(r.issue);
    return dflt;
  }
}

/** The value, or an InputError (exit code 2) that names the input. */
export function valueOrThrow<T>(r: Parsed<T>): T {
  if (r.ok) return r.value;
  throw new InputError(`invalid ${r.issue.path}`, [r.issue]);
}

/** Distinct integers separated by commas ("0,1,2"), each under the rule. */
export function parseIntList(raw: string, rule: IntRule): Parsed<number[]> {
  const values: number[] = [];
  for (const part of raw.split(',')) {
    const r = parseIntOption(part, rule);
    if (!r.ok) {
      const each = intRange(rule.min, rule.max).replace(/^an? /, '');
      return fail(rule.name, `integers separated by commas, each ${each}`, raw);
    }
    if (values.includes(r.value)) return fail(rule.name, `distinct (${r.value} repeats)`, raw);
    values.push(r.value);
  }
  return { ok: true, value: values };
}

/** A commander argument parser for a list flag ("0,1,2"). */
export function intListFlag(flag: string, bounds: Bounds = {}): (raw: string) => number[] {
  return (raw) => valueOrThrow(parseIntList(raw, { name: flag, ...bounds }));
}

/** A commander argument parser for an integer flag: `.option('--n <n>', '…', intFlag('--n', { min: 1 }))`. */
export function intFlag(flag: string, bounds: Bounds = {}): (raw: string) => number {
  return (raw) => valueOrThrow(parseIntOption(raw, { name: flag, ...bounds }));
}

/** A commander argument parser for a duration flag (milliseconds, or with a unit). */
export function durationFlag(flag: string, bounds: Bounds = {}): (raw: string) => number {
  return (raw) => valueOrThrow(parseDurationMs(raw, { name: flag, ...bounds }));
}
