/**
 * How many CUDA devices this process can see, asked of the driver itself (libcuda's
 * cuInit + cuDeviceGetCount through the koffi FFI). tfjs-node-gpu loads fine on a machine
 * without a GPU and then computes on the CPU, logging only "could not find cuda drivers";
 * a GPU worker must refuse that instead (RINGMASTER_BACKEND=tensorflow-gpu exits 2).
 */
import { createRequire } from 'node:module';

export interface GpuProbe {
  count: number;
  /** Why the count is 0 (or which driver answered). */
  reason: string;
}

const require = createRequire(import.meta.url);
let cached: GpuProbe | undefined;

export function visibleGpus(): GpuProbe {
  cached ??= probe();
  return cached;
}

function probe(): GpuProbe {
  const mask = process.env.CUDA_VISIBLE_DEVICES;
  if (mask !== undefined && (mask.trim() === '' || mask.trim() === '-1'))
    return { count: 0, reason: `CUDA_VISIBLE_DEVICES="${mask}" hides every device` };
  let koffi: typeof import('koffi');
  try {
    koffi = require('koffi') as typeof import('koffi');
  } catch {
    return { count: 0, reason: 'koffi (the FFI used to ask the CUDA driver) is not installed' };
  }
  // Not unloaded afterwards: TensorFlow opens the same library and shares the initialised driver.
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load('libcuda.so.1');
  } catch {
    return {
      count: 0,
      reason: 'libcuda.so.1, the NVIDIA driver library, is not present',
    };
  }
  try {
    const cuInit = lib.func('int cuInit(unsigned int flags)');
    const cuDeviceGetCount = lib.func('int cuDeviceGetCount(_Out_ int* count)');
    const rc = cuInit(0) as number;
    if (rc !== 0) return { count: 0, reason: `cuInit failed with CUDA error ${rc}` };
    const out = [0];
    const rc2 = cuDeviceGetCount(out) as number;
    if (rc2 !== 0) return { count: 0, reason: `cuDeviceGetCount failed with CUDA error ${rc2}` };
    return out[0]! > 0
      ? { count: out[0]!, reason: 'libcuda.so.1' }
      : { count: 0, reason: 'the CUDA driver reports no devices' };
  } catch (err) {
    return { count: 0, reason: `cannot call the CUDA driver: ${(err as Error).message}` };
  }
}
