/** Loading the optim oracle fixtures (written by test/oracle/optim_*.py) and comparing numbers. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../../../trainer/engine/backend.js';
import { parityBackends, switchBackend } from '../../support/backends.js';

const here = dirname(fileURLToPath(import.meta.url));

export function loadFixture<T>(name: string): T {
  return JSON.parse(
    readFileSync(join(here, '..', '..', 'fixtures', 'oracle', 'optim', name), 'utf8'),
  ) as T;
}

/** The cpu backend, with tfjs-core's gradients registered (as the trainer's engine init does). */
export async function useCpu(): Promise<void> {
  await useBackend('cpu');
}

/** The oracle comparisons run on every backend this run can load (test/support/backends.ts). */
export const testBackends = parityBackends;

/**
 * Switch to `name` (gradients registered) and return the backend that was active, for
 * `after()` to restore: other test files share the tfjs engine.
 */
export async function useBackend(name: string): Promise<string> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow' || name === 'wasm' || name === 'cpu')
    return switchBackend(name as BackendName);
  // A tfjs name handed back by an earlier call (e.g. 'tensorflow' for tfjs-node-gpu).
  const previous = tf.getBackend();
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  return previous;
}

/** Throws unless |a−e| ≤ atol + rtol·|e| elementwise (the float32 bound: 1e-6 each). */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  atol = 1e-6,
  rtol = 1e-6,
): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length} ≠ expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e)))
      throw new Error(`${what}[${i}]: ${a} ≠ expected ${e} (|Δ| = ${Math.abs(a - e)})`);
  }
}
