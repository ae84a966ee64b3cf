import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupCpuLimit, coresFromQuota, cpuShare } from '../../../trainer/engine/threads.js';

describe('CPU share from the cgroup', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rm-cgroup-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads a cgroup v2 cpu.max limit, rounding part of a core up', () => {
    writeFileSync(join(root, 'cpu.max'), '150000 100000\n');
    assert.deepEqual(cgroupCpuLimit(root), { cores: 2, source: 'cgroup cpu.max' });
    writeFileSync(join(root, 'cpu.max'), 'max 100000\n');
    assert.equal(cgroupCpuLimit(root), null);
  });

  it('reads a cgroup v1 CFS quota; -1 means no limit', () => {
    mkdirSync(join(root, 'cpu,cpuacct'));
    writeFileSync(join(root, 'cpu,cpuacct', 'cpu.cfs_quota_us'), '400000');
    writeFileSync(join(root, 'cpu,cpuacct', 'cpu.cfs_period_us'), '100000');
    assert.deepEqual(cgroupCpuLimit(root), { cores: 4, source: 'cgroup cpu.cfs_quota_us' });
    writeFileSync(join(root, 'cpu,cpuacct', 'cpu.cfs_quota_us'), '-1');
    assert.equal(cgroupCpuLimit(root), null);
  });

  it('never reports more cores than the machine has, nor fewer than one', () => {
    writeFileSync(join(root, 'cpu.max'), `${(availableParallelism() + 8) * 100000} 100000`);
    assert.equal(cpuShare(root).cores, availableParallelism());
    writeFileSync(join(root, 'cpu.max'), '10000 100000');
    assert.equal(cpuShare(root).cores, 1);
    assert.equal(coresFromQuota(0, 100000), null);
    assert.equal(cpuShare(join(root, 'absent')).source, 'os.availableParallelism()');
  });
});
