/**
 * How many CPU cores this process may use: the container's CPU limit (cgroup v2 `cpu.max`,
 * cgroup v1 `cpu.cfs_quota_us / cpu.cfs_period_us`), else the cores Node sees. A pod limited
 * to 4 CPUs on a 64-core node must size its thread pools for 4, or it thrashes in CFS
 * throttling; os.availableParallelism() alone reports 64 there.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface CpuShare {
  cores: number;
  /** Where the figure came from, for the worker's first log lines. */
  source: string;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Parses a quota and period (µs) into whole cores, rounded up; null when unlimited. */
export function coresFromQuota(quota: number, period: number): number | null {
  if (!(quota > 0) || !(period > 0)) return null;
  return Math.max(1, Math.ceil(quota / period));
}

/** The CPU limit of this process's cgroup, or null when there is none. `root` for tests. */
export function cgroupCpuLimit(root = '/sys/fs/cgroup'): CpuShare | null {
  const v2 = read(`${root}/cpu.max`);
  if (v2 !== null) {
    const [quota, period] = v2.split(/\s+/);
    const cores = quota === 'max' ? null : coresFromQuota(Number(quota), Number(period ?? 100000));
    return cores === null ? null : { cores, source: 'cgroup cpu.max' };
  }
  for (const dir of [`${root}/cpu`, `${root}/cpu,cpuacct`]) {
    const quota = read(`${dir}/cpu.cfs_quota_us`);
    const period = read(`${dir}/cpu.cfs_period_us`);
    if (quota === null || period === null) continue;
    const cores = coresFromQuota(Number(quota), Number(period));
    return cores === null ? null : { cores, source: 'cgroup cpu.cfs_quota_us' };
  }
  return null;
}

/**
 * The cores this process may use: the cgroup limit if any, else the container's CPU request
 * (millicores, from the downward API or the local launcher) when given, never more than the
 * machine has. A pod with a request and no limit may burst past its request, but only the
 * request is guaranteed: threads sized for it do not fight the neighbours for cores.
 */
export function cpuShare(root?: string, requestMillicores = 0): CpuShare {
  const machine = availableParallelism();
  const limit = cgroupCpuLimit(root);
  if (limit)
    return limit.cores < machine
      ? limit
      : { cores: machine, source: `${limit.source} (capped at the machine's cores)` };
  if (requestMillicores > 0) {
    const cores = Math.max(1, Math.ceil(requestMillicores / 1000));
    if (cores < machine) return { cores, source: 'cpu request' };
  }
  return { cores: machine, source: 'os.availableParallelism()' };
}
