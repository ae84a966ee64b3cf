/**
 * Which cluster the test:cluster journey runs on, and whether it trains on GPUs: the choice
 * is made from the environment and the nodes' allocatable resources (harness/e2e-target.ts).
 */
import assert from 'node:assert/strict';
import { TestEnv } from '../../../api/names.js';
import { chooseAccelerator, chooseTarget } from '../../../harness/e2e-target.js';

describe('e2e target and accelerator choice', () => {
  it('defaults to the local real node', () => {
    assert.deepEqual(chooseTarget({}), { name: 'local' });
  });

  it('kind when asked', () => {
    assert.deepEqual(chooseTarget({ [TestEnv.e2eTarget]: 'kind' }), { name: 'kind' });
  });

  it('any cluster: a kubeconfig implies the target and needs a registry', () => {
    assert.deepEqual(
      chooseTarget({ [TestEnv.e2eKubeconfig]: '/k', [TestEnv.e2eRegistry]: 'reg:5000/ml' }),
      { name: 'kubeconfig', kubeconfig: '/k', registry: 'reg:5000/ml' },
    );
    assert.throws(() => chooseTarget({ [TestEnv.e2eKubeconfig]: '/k' }), /RINGMASTER_E2E_REGISTRY/);
    assert.throws(
      () => chooseTarget({ [TestEnv.e2eTarget]: 'kind', [TestEnv.e2eKubeconfig]: '/k' }),
      /is for target kubeconfig/,
    );
    assert.throws(() => chooseTarget({ [TestEnv.e2eTarget]: 'k3s' }), /local, kind or kubeconfig/);
  });

  it('GPU recipes when the cluster has a GPU per worker, the CPU fallback otherwise', () => {
    const gpu = chooseAccelerator(
      [{ 'nvidia.com/gpu': '1' }, { 'nvidia.com/gpu': '4' }, {}],
      2,
      {},
    );
    assert.equal(gpu.accelerator, 'gpu');
    assert.equal(gpu.gpus, 5);
    const cpu = chooseAccelerator([{ cpu: '2' }, undefined], 2, {});
    assert.equal(cpu.accelerator, 'cpu');
    assert.match(cpu.why, /CPU fallback/);
    assert.equal(chooseAccelerator([{ 'nvidia.com/gpu': '1' }], 2, {}).accelerator, 'cpu');
    assert.equal(
      chooseAccelerator([{ 'nvidia.com/gpu': '8' }], 2, { [TestEnv.e2eAccelerator]: 'cpu' })
        .accelerator,
      'cpu',
    );
    assert.throws(
      () => chooseAccelerator([], 2, { [TestEnv.e2eAccelerator]: 'tpu' }),
      /use gpu or cpu/,
    );
  });
});
