/**
 * Picks the compute backend: tfjs-node-gpu, then tfjs-node (optional dependencies that only
 * install where libtensorflow can be downloaded), then wasm with Ringmaster's training
 * kernels, then tfjs's pure-JS cpu backend (docs/adr/0020).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors.js';
import { log } from '../log.js';
import { completeTfjsCore } from './gradients.js';
import { registerWasmTrainingKernels } from './kernels/index.js';

export const backendNames = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof backendNames)[number];

export interface BackendChoice {
  /** Ringmaster's name for the backend that runs (`tensorflow-gpu` for tfjs-node-gpu). */
  name: BackendName;
  /** Backends tried before it, in order, with why each failed. */
  fellBackFrom: string[];
}

export function isBackendName(s: string): s is BackendName {
  return (backendNames as readonly string[]).includes(s);
}

// Kept in variables so TypeScript does not try to resolve the optional packages' types.
const nodeGpuPackage = '@tensorflow/tfjs-node-gpu';
const nodePackage = '@tensorflow/tfjs-node';

async function activate(name: BackendName): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
      await import(nodeGpuPackage);
      break;
    case 'tensorflow':
      await import(nodePackage);
      break;
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      registerWasmTrainingKernels();
      break;
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      break;
  }
  // Both native packages register their backend under the name 'tensorflow'.
  const tfName = name === 'tensorflow-gpu' ? 'tensorflow' : name;
  if (!(await tf.setBackend(tfName))) throw new Error(`tf.setBackend('${tfName}') failed`);
  await tf.ready();
}

/**
 * Activates the preferred backend (e.g. the value of RINGMASTER_BACKEND; it must then be
 * available) or the first available one in the order above.
 */
export async function initBackend(preferred?: BackendName | string): Promise<BackendChoice> {
  if (preferred !== undefined && preferred !== '' && !isBackendName(preferred)) {
    throw new InputError(`unknown backend '${preferred}'`, [
      { path: 'RINGMASTER_BACKEND', message: `expected one of ${backendNames.join(', ')}` },
    ]);
  }
  // PROD mode only silences tfjs's "install tfjs-node" banner and skips debug checks.
  tf.enableProdMode();
  completeTfjsCore();
  const order: readonly BackendName[] = preferred ? [preferred as BackendName] : backendNames;
  const fellBackFrom: string[] = [];
  for (const name of order) {
    try {
      await activate(name);
      log.info({ backend: name, fellBackFrom }, 'compute backend selected');
      return { name, fellBackFrom };
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      fellBackFrom.push(`${name}: ${why}`);
      log.debug({ backend: name, err: why }, 'compute backend unavailable');
    }
  }
  throw new InputError(`no compute backend available (${fellBackFrom.join('; ')})`, [
    {
      path: 'RINGMASTER_BACKEND',
      message: preferred ? `${preferred} is not available here` : 'none of them loads',
    },
  ]);
}
