/**
 * How a worker spends its CPU share: threads for the compute backend, decode/augment threads
 * for the data loader and batches prepared ahead. Decided once at start from the container's
 * CPU limit or request (engine/threads.ts) and the overrides the worker was given
 * (spec.dataLoader through the operator, `--workers N` locally), logged in the worker's first
 * lines and reported in the recipe's status.
 *
 * The step needs one core on a GPU worker (the thread that feeds the device, copies to the
 * host and drives the all-reduce) and its compute threads on a CPU worker; the loader gets
 * the rest, at least one thread, so decoding never runs on the training thread unless asked.
 */
import { cpuShare } from './engine/threads.js';

export interface ThreadPlan {
  /** Cores this worker may use, and where that figure came from. */
  cores: number;
  coresSource: string;
  /** Threads of the compute backend's pools. */
  computeThreads: number;
  /** Decode/augment threads of the data loader; 0 decodes on the training thread. */
  loaderWorkers: number;
  prefetchBatches: number;
  /** 'spec' when spec.dataLoader (or a flag) chose the loader's numbers, else 'derived'. */
  loaderSource: 'spec' | 'derived';
}

export interface ThreadPlanInputs {
  cores: number;
  coresSource: string;
  /** Compute threads asked for (RINGMASTER_COMPUTE_THREADS); 0: all the cores. */
  computeThreads: number;
  /** The step runs on a GPU: it needs one core of the share, not its compute threads. */
  gpu: boolean;
  /** Images per step on this worker. */
  batchSize: number;
  loaderWorkers?: number | undefined;
  prefetchBatches?: number | undefined;
}

/** Samples kept queued per loader thread, so none waits between two images. */
const QUEUED_PER_THREAD = 2;

export function planThreads(i: ThreadPlanInputs): ThreadPlan {
  const computeThreads = i.computeThreads > 0 ? i.computeThreads : i.cores;
  const stepCores = i.gpu ? 1 : computeThreads;
  const loaderWorkers = i.loaderWorkers ?? Math.max(1, i.cores - stepCores);
  // Two batches at least (one consumed while the next decodes), and enough queued samples
  // to keep every thread busy when batches are small.
  const prefetchBatches =
    i.prefetchBatches ??
    Math.max(2, Math.ceil((QUEUED_PER_THREAD * loaderWorkers) / Math.max(1, i.batchSize)));
  const fromSpec = i.loaderWorkers !== undefined || i.prefetchBatches !== undefined;
  return {
    cores: i.cores,
    coresSource: i.coresSource,
    computeThreads,
    loaderWorkers,
    prefetchBatches,
    loaderSource: fromSpec ? 'spec' : 'derived',
  };
}

/** The plan for this process: its CPU share read from `cgroupRoot` (absent: the real one). */
export function planWorkerThreads(
  i: Omit<ThreadPlanInputs, 'cores' | 'coresSource'> & {
    cgroupRoot?: string | undefined;
    cpuRequestMillicores?: number;
  },
): ThreadPlan {
  const share = cpuShare(i.cgroupRoot, i.cpuRequestMillicores ?? 0);
  return planThreads({ ...i, cores: share.cores, coresSource: share.source });
}

/** The plan in one line, for the launcher and the logs. */
export function describeThreadPlan(p: ThreadPlan): string {
  return (
    `threads: ${p.cores} core${p.cores === 1 ? '' : 's'} (${p.coresSource}) → compute ` +
    `${p.computeThreads}, loader ${p.loaderWorkers}, prefetch ${p.prefetchBatches} batches` +
    (p.loaderSource === 'spec' ? ' (loader set by spec.dataLoader)' : '')
  );
}
