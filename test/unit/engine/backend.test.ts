import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { describeBackend, initBackend, nativeLoadReason } from '../../../trainer/engine/backend.js';
import { visibleGpus } from '../../../trainer/engine/gpu.js';
import { backendProbe, parityBackends } from '../../support/backends.js';
import { InputError } from '../../../common/errors.js';

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

describe('initBackend', function () {
  this.timeout(30000);

  it('falls back from the native backends to wasm when they are not installed', async function () {
    if (installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu')) {
      this.skip(); // on a machine with libtensorflow the native backend wins, as it should
    }
    const choice = await initBackend();
    assert.equal(choice.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.deepEqual(
      choice.fellBackFrom.map((s) => s.split(':')[0]),
      ['tensorflow-gpu', 'tensorflow'],
    );
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'training kernels registered');
  });

  it('completes tfjs-core: gradients and chained ops are registered', async () => {
    await initBackend('cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.ok(tf.getGradient('Conv2D'));
    assert.ok(tf.getGradient('Mean'));
    const y = tf.tidy(
      () => (tf.scalar(3) as tf.Scalar & { mul(x: number): tf.Tensor }).mul(2).dataSync()[0],
    );
    assert.equal(y, 6);
    const g = tf.grad((x: tf.Tensor) => tf.mean(tf.square(x)))(tf.tensor1d([1, 2]));
    assert.deepEqual(Array.from(g.dataSync()), [1, 2]);
  });

  it('rejects an unknown or unavailable forced backend with an InputError', async () => {
    await assert.rejects(
      initBackend('tpu'),
      (err: InputError) => err instanceof InputError && /unknown backend/.test(err.message),
    );
    if (!installed('@tensorflow/tfjs-node')) {
      await assert.rejects(
        initBackend('tensorflow'),
        (err: InputError) => err instanceof InputError && /tensorflow/.test(err.message),
      );
    }
    await initBackend('wasm');
  });

  for (const name of backendProbe.required) {
    it(`loads ${name}, which RINGMASTER_TEST_BACKENDS requires of this run`, () => {
      assert.ok(
        parityBackends.includes(name),
        `${name} did not load: ${backendProbe.missing.get(name) ?? 'not probed'}`,
      );
    });
  }

  it('says in one line why a native package did not load, and how to build it', () => {
    const notInstalled = new Error("Cannot find package '@tensorflow/tfjs-node' imported from x");
    assert.equal(
      nativeLoadReason('@tensorflow/tfjs-node', notInstalled),
      '@tensorflow/tfjs-node is not installed (run `npm run setup:tensorflow`)',
    );
    const notBuilt = new Error(
      'The Node.js native addon module (tfjs_binding.node) can not be found at path: /x\nPlease run',
    );
    assert.equal(
      nativeLoadReason('@tensorflow/tfjs-node-gpu', notBuilt),
      '@tensorflow/tfjs-node-gpu is not built (run `npm run setup:tensorflow -- --gpu`)',
    );
    const lib = new Error('libtensorflow_cc.so.2: cannot open shared object file: No such file');
    assert.match(
      nativeLoadReason('@tensorflow/tfjs-node', lib),
      /cannot load libtensorflow_cc\.so\.2/,
    );
  });

  it('prints the backend line ringmaster train starts with', () => {
    assert.equal(
      describeBackend({ name: 'tensorflow', fellBackFrom: [], threads: 2 }),
      'backend: tensorflow (2 threads)',
    );
    assert.equal(
      describeBackend({
        name: 'wasm',
        fellBackFrom: ['tensorflow-gpu: no GPU visible (x)', 'tensorflow: it is not built (run y)'],
      }),
      'backend: wasm (tensorflow unavailable: it is not built (run y))',
    );
  });

  it('refuses tensorflow-gpu where no GPU is visible: exit 2 naming the cause', function () {
    if (visibleGpus().count > 0) this.skip(); // a GPU machine: the backend loads, as it should
    const r = spawnSync(
      process.execPath,
      ['bin/ringmaster.js', 'predict', '--weights', 'test/fixtures/none', 'x.jpg'],
      { env: { ...process.env, RINGMASTER_BACKEND: 'tensorflow-gpu' }, encoding: 'utf8' },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /tensorflow-gpu.*no GPU visible/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for the user');
  });
});
