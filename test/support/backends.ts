/**
 * The compute backends the parity tests run on: every one this run can load. wasm and cpu are
 * always there; TensorFlow's native backend is there once `npm run setup:tensorflow` has built
 * it (CI does, and sets RINGMASTER_TEST_BACKENDS=tensorflow so that a broken build fails the
 * run instead of shrinking the list); tensorflow-gpu where a GPU is visible.
 *
 * Probing switches the shared tfjs engine, so it runs once, at import, and restores the
 * backend that was active.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../../trainer/engine/backend.js';

export interface BackendProbe {
  available: BackendName[];
  /** Backends that did not load, with why. */
  missing: Map<BackendName, string>;
  /** Backends RINGMASTER_TEST_BACKENDS says this run must have. */
  required: BackendName[];
}

async function probe(): Promise<BackendProbe> {
  const previous = tf.getBackend();
  const available: BackendName[] = [];
  const missing = new Map<BackendName, string>();
  for (const name of ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const) {
    try {
      await initBackend(name);
      available.push(name);
    } catch (err) {
      missing.set(name, (err as Error).message);
    }
  }
  // tfjs-node-gpu and tfjs-node both register 'tensorflow': one of them can be tested per process.
  if (available.includes('tensorflow-gpu')) available.splice(available.indexOf('tensorflow'), 1);
  if (previous) await tf.setBackend(previous);
  const required = (process.env.RINGMASTER_TEST_BACKENDS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as BackendName[];
  return { available, missing, required };
}

export const backendProbe: BackendProbe = await probe();

/** The backends every parity test runs on, native first. */
export const parityBackends: readonly BackendName[] = backendProbe.available;

/**
 * The backends the multi-process training tests run on: the parity backends but the pure-JS
 * cpu one, which only stands in when wasm cannot load and is ~100x too slow for whole steps.
 */
export const trainingBackends: readonly BackendName[] = parityBackends.filter((b) => b !== 'cpu');

/** Switch to `name` (see initBackend) and return the backend that was active, for after(). */
export async function switchBackend(name: BackendName): Promise<string> {
  const previous = tf.getBackend();
  await initBackend(name);
  return previous;
}

/** Where the two native packages differ, tfjs still names the backend 'tensorflow'. */
export function tfName(name: BackendName): string {
  return name === 'tensorflow-gpu' ? 'tensorflow' : name;
}

/**
 * Inside a describe block: its tests run on `name`, and the process goes back to the backend it
 * had afterwards (test files share one tfjs engine).
 */
export function runSuiteOn(name: BackendName): void {
  let previous = '';
  before(async () => {
    previous = await switchBackend(name);
  });
  after(async () => {
    if (previous) await tf.setBackend(previous);
  });
}
