/**
 * Typed errors. Each carries the process exit code it maps to (ExitCode, api/names.ts), so
 * the one place that turns errors into exit codes (the CLI entry) and the operator (which
 * reads exit codes of pods) agree on what is worth retrying.
 */

import { ExitCode } from '../api/names.js';

export class RingmasterError extends Error {
  readonly exitCode: ExitCode = ExitCode.internal;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One problem in a user's input, located by a path such as `spec.recipe.lr`. */
export interface InputIssue {
  path: string;
  message: string;
}

/** The user's input is wrong; the message says what and where. Not retryable. */
export class InputError extends RingmasterError {
  override readonly exitCode = ExitCode.invalidInput;
  readonly issues: readonly InputIssue[];
  constructor(message: string, issues: readonly InputIssue[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.issues = issues;
  }
}

/** Something named by the user does not exist (a file, an object, a bucket). */
export class NotFoundError extends RingmasterError {
  override readonly exitCode = ExitCode.invalidInput;
}

/** A failure that a restart of the worker group can cure (dead peer, storage hiccup). */
export class RetryableError extends RingmasterError {
  override readonly exitCode: ExitCode = ExitCode.retryable;
}

export function exitCodeOf(err: unknown): ExitCode {
  return err instanceof RingmasterError ? err.exitCode : ExitCode.internal;
}

/** A message for people: the error's own text plus its issues, one per line. */
export function describeError(err: unknown): string {
  if (err instanceof InputError && err.issues.length > 0) {
    return [err.message, ...err.issues.map((i) => `  ${i.path}: ${i.message}`)].join('\n');
  }
  if (err instanceof RingmasterError) return err.message;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
