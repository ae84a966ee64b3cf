/**
 * Picks the compute backend: TensorFlow's native kernels (tfjs-node-gpu, then tfjs-node, both
 * built by `npm run setup:tensorflow` against PyPI's TensorFlow: docs/adr/0086), then wasm with
 * Ringmaster's training kernels, then tfjs's pure-JS cpu backend (docs/adr/0020).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../../common/errors.js';
import { log } from '../../common/log.js';
import { completeTfjsCore } from './gradients.js';
import { visibleGpus } from './gpu.js';
import { registerWasmTrainingKernels } from './kernels/index.js';
import { registerTensorflowKernels, setNativeGroupedGradients } from './kernels/tensorflow.js';

export const backendNames = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof backendNames)[number];

export interface BackendChoice {
  /** Ringmaster's name for the backend that runs (`tensorflow-gpu` for tfjs-node-gpu). */
  name: BackendName;
  /** Backends tried before it, in order, with why each failed. */
  fellBackFrom: string[];
  /** Threads TensorFlow's intra-op pool was given (native backends only). */
  threads?: number;
}

export interface BackendOptions {
  /**
   * CPU threads for TensorFlow's intra-op pool (and oneDNN's): the pod's CPU share, or the
   * machine's cores divided between local workers. Unset: TensorFlow's default (all cores).
   * Takes effect only when the native library is first loaded in this process.
   */
  threads?: number;
}

/** The command that builds the native backends; named in every message about them. */
export const SETUP_COMMAND = 'npm run setup:tensorflow';

export function isBackendName(s: string): s is BackendName {
  return (backendNames as readonly string[]).includes(s);
}

// Kept in variables so TypeScript does not try to resolve the optional packages' types.
const nodeGpuPackage = '@tensorflow/tfjs-node-gpu';
const nodePackage = '@tensorflow/tfjs-node';

/** One line saying why a native package did not load, with what to do about it. */
export function nativeLoadReason(pkg: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const gpu = pkg === nodeGpuPackage ? ' -- --gpu' : '';
  if (/Cannot find (package|module) '@tensorflow\/tfjs-node/.test(msg))
    return `${pkg} is not installed (run \`${SETUP_COMMAND}${gpu}\`)`;
  if (/tfjs_binding\.node\) can not be found/.test(msg))
    return `${pkg} is not built (run \`${SETUP_COMMAND}${gpu}\`)`;
  if (/cannot open shared object file/.test(msg)) {
    const lib = /(lib[\w.+-]+\.so[\w.]*)/.exec(msg)?.[1] ?? 'a shared library';
    return `${pkg} cannot load ${lib} (run \`${SETUP_COMMAND}${gpu}\` again)`;
  }
  return msg.split('\n')[0]!;
}

/**
 * Environment TensorFlow reads once, when its library initialises: thread pools and log level.
 * Values already set by the user win.
 */
function prepareNativeEnv(threads: number | undefined): void {
  // INFO/WARNING lines about CPU features and missing CUDA drivers are noise in a trainer's log.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  if (threads !== undefined && threads > 0) {
    process.env.TF_NUM_INTRAOP_THREADS ??= String(threads);
    // Inter-op parallelism: ops of one step mostly run in sequence; two lanes keep the
    // occasional independent op (e.g. a gradient's two halves) busy without oversubscribing.
    process.env.TF_NUM_INTEROP_THREADS ??= String(Math.min(2, threads));
    process.env.OMP_NUM_THREADS ??= String(threads);
  }
}

async function activate(name: BackendName, opts: BackendOptions): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu': {
      prepareNativeEnv(opts.threads);
      // Without a GPU tfjs-node-gpu still loads and silently computes on the CPU: refuse.
      const gpus = visibleGpus();
      if (gpus.count === 0) throw new Error(`no GPU visible (${gpus.reason})`);
      try {
        await import(nodeGpuPackage);
      } catch (err) {
        throw new Error(nativeLoadReason(nodeGpuPackage, err));
      }
      registerTensorflowKernels();
      setNativeGroupedGradients(true);
      break;
    }
    case 'tensorflow':
      prepareNativeEnv(opts.threads);
      try {
        await import(nodePackage);
      } catch (err) {
        throw new Error(nativeLoadReason(nodePackage, err));
      }
      registerTensorflowKernels();
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
export async function initBackend(
  preferred?: BackendName | string,
  opts: BackendOptions = {},
): Promise<BackendChoice> {
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
      await activate(name, opts);
      const native = name === 'tensorflow' || name === 'tensorflow-gpu';
      const threads = native ? Number(process.env.TF_NUM_INTRAOP_THREADS) || undefined : undefined;
      log.info({ backend: name, fellBackFrom, threads }, 'compute backend selected');
      return { name, fellBackFrom, ...(threads ? { threads } : {}) };
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0]! : String(err);
      fellBackFrom.push(`${name}: ${why}`);
      log.debug({ backend: name, err: why }, 'compute backend unavailable');
    }
  }
  throw new InputError(`no compute backend available (${fellBackFrom.join('; ')})`, [
    {
      path: 'RINGMASTER_BACKEND',
      message: preferred
        ? `${preferred} is not available here: ${fellBackFrom[0]!.slice(preferred.length + 2)}`
        : 'none of them loads',
    },
  ]);
}

/**
 * The line `ringmaster train` prints first: `backend: tensorflow`, or for a fallback the
 * reason the preferred native backend did not load, e.g.
 * `backend: wasm (tensorflow unavailable: @tensorflow/tfjs-node is not built (run …))`.
 */
export function describeBackend(choice: BackendChoice): string {
  const threads = choice.threads
    ? `, ${choice.threads} thread${choice.threads > 1 ? 's' : ''}`
    : '';
  const native = choice.fellBackFrom.find((s) => s.startsWith('tensorflow:'));
  if (choice.name === 'wasm' || choice.name === 'cpu') {
    if (native) return `backend: ${choice.name} (tensorflow unavailable: ${native.slice(12)})`;
  }
  return `backend: ${choice.name}${threads ? ` (${threads.slice(2)})` : ''}`;
}
