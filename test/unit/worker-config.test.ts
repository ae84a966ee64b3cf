/**
 * The worker's environment contract: defaults, the collectives' transport, and errors that
 * name the variable.
 */
import assert from 'node:assert/strict';
import { InputError } from '../../common/errors.js';
import { workerConfigFromEnv } from '../../trainer/worker-config.js';

const base = { RINGMASTER_RECIPE: '/etc/ringmaster/recipe.json' };

describe('worker-config: the worker environment', () => {
  it('defaults: one rank, the TCP data plane on the port after the listen port', () => {
    const c = workerConfigFromEnv(base);
    assert.equal(c.worldSize, 1);
    assert.equal(c.rank, 0);
    assert.equal(c.listen, '0.0.0.0:29500');
    assert.equal(c.transport, 'tcp');
    assert.equal(c.dataListen, undefined);
    assert.equal(c.opTimeoutMs, 120_000);
  });

  it('takes RINGMASTER_COMM_TRANSPORT and RINGMASTER_DATA_LISTEN', () => {
    const c = workerConfigFromEnv({
      ...base,
      RINGMASTER_COMM_TRANSPORT: 'grpc',
      RINGMASTER_DATA_LISTEN: '127.0.0.1:0',
    });
    assert.equal(c.transport, 'grpc');
    assert.equal(c.dataListen, '127.0.0.1:0');
  });

  it('takes RINGMASTER_COMM_CHANNELS (absent: the group default; 1–16)', () => {
    assert.equal(workerConfigFromEnv(base).commChannels, undefined);
    assert.equal(workerConfigFromEnv({ ...base, RINGMASTER_COMM_CHANNELS: '4' }).commChannels, 4);
    assert.throws(
      () => workerConfigFromEnv({ ...base, RINGMASTER_COMM_CHANNELS: '0' }),
      (e: InputError) => e.issues.some((i) => i.path === 'RINGMASTER_COMM_CHANNELS'),
    );
  });

  it('takes RINGMASTER_COMPUTE_THREADS (0, the default: the container CPU limit)', () => {
    assert.equal(workerConfigFromEnv(base).computeThreads, 0);
    assert.equal(
      workerConfigFromEnv({ ...base, RINGMASTER_COMPUTE_THREADS: '3' }).computeThreads,
      3,
    );
    assert.throws(
      () => workerConfigFromEnv({ ...base, RINGMASTER_COMPUTE_THREADS: '-1' }),
      (e: InputError) =>
        e instanceof InputError && e.issues.some((i) => i.path === 'RINGMASTER_COMPUTE_THREADS'),
    );
  });

  it('names every bad variable at once', () => {
    assert.throws(
      () =>
        workerConfigFromEnv({
          ...base,
          RINGMASTER_WORLD_SIZE: '2',
          RINGMASTER_RANK: '2',
          RINGMASTER_COMM_TRANSPORT: 'udp',
        }),
      (e: unknown) => {
        assert.ok(e instanceof InputError);
        const paths = e.issues.map((i) => i.path).sort();
        assert.deepEqual(paths, [
          'RINGMASTER_COMM_TRANSPORT',
          'RINGMASTER_RANK',
          'RINGMASTER_TOKEN',
        ]);
        return true;
      },
    );
  });

  it('names every bad variable at once, the generation and the deadlines included', () => {
    assert.throws(
      () =>
        workerConfigFromEnv({
          ...base,
          RINGMASTER_WORLD_SIZE: '2',
          RINGMASTER_RANK: '2',
          RINGMASTER_TOKEN: 'a-token-of-16-chars',
          RINGMASTER_PORT: 'http',
          RINGMASTER_COMM_TRANSPORT: 'udp',
          RINGMASTER_GENERATION: 'three',
          RINGMASTER_RENDEZVOUS_TIMEOUT_MS: '-5',
          RINGMASTER_OP_TIMEOUT_MS: '0',
          RINGMASTER_ALLOW_RECIPE_CHANGE: 'maybe',
        }),
      (e: unknown) => {
        assert.ok(e instanceof InputError);
        const paths = e.issues.map((i) => i.path).sort();
        assert.deepEqual(paths, [
          'RINGMASTER_ALLOW_RECIPE_CHANGE',
          'RINGMASTER_COMM_TRANSPORT',
          'RINGMASTER_GENERATION',
          'RINGMASTER_OP_TIMEOUT_MS',
          'RINGMASTER_PORT',
          'RINGMASTER_RANK',
          'RINGMASTER_RENDEZVOUS_TIMEOUT_MS',
        ]);
        return true;
      },
    );
  });

  it('rejects a generation that is not a number and a negative deadline, each alone', () => {
    for (const [name, value] of [
      ['RINGMASTER_GENERATION', 'NaN'],
      ['RINGMASTER_GENERATION', '-1'],
      ['RINGMASTER_GENERATION', '1.5'],
      ['RINGMASTER_RENDEZVOUS_TIMEOUT_MS', '-1000'],
      ['RINGMASTER_OP_TIMEOUT_MS', '-1'],
      ['RINGMASTER_OP_TIMEOUT_MS', 'soon'],
    ] as const) {
      assert.throws(
        () => workerConfigFromEnv({ ...base, [name]: value }),
        (e: unknown) =>
          e instanceof InputError &&
          e.issues.length === 1 &&
          e.issues[0]!.path === name &&
          e.issues[0]!.message.includes(`"${value}"`),
        `${name}=${value}`,
      );
    }
  });

  it('reads the generation, the deadlines and the recipe-change switch', () => {
    const c = workerConfigFromEnv({
      ...base,
      RINGMASTER_GENERATION: '7',
      RINGMASTER_RENDEZVOUS_TIMEOUT_MS: '90000',
      RINGMASTER_OP_TIMEOUT_MS: '5000',
      RINGMASTER_ALLOW_RECIPE_CHANGE: '1',
    });
    assert.equal(c.generation, 7);
    assert.equal(c.rendezvousTimeoutMs, 90_000);
    assert.equal(c.opTimeoutMs, 5_000);
    assert.equal(c.allowRecipeChange, true);
    assert.equal(workerConfigFromEnv(base).allowRecipeChange, false);
    assert.equal(workerConfigFromEnv(base).generation, 0);
  });

  it('takes the loader overrides, the CPU request and the cgroup root; absent: derived', () => {
    const d = workerConfigFromEnv(base);
    assert.equal(d.loaderWorkers, undefined);
    assert.equal(d.prefetchBatches, undefined);
    assert.equal(d.cgroupRoot, undefined);
    const c = workerConfigFromEnv({
      ...base,
      RINGMASTER_LOADER_WORKERS: '0',
      RINGMASTER_PREFETCH_BATCHES: '4',
      RINGMASTER_CPU_REQUEST_MILLICORES: '2500',
      RINGMASTER_CGROUP_ROOT: '/tmp/fake-cgroup',
    });
    assert.equal(c.loaderWorkers, 0);
    assert.equal(c.prefetchBatches, 4);
    assert.equal(c.cpuRequestMillicores, 2500);
    assert.equal(c.cgroupRoot, '/tmp/fake-cgroup');
    assert.throws(
      () => workerConfigFromEnv({ ...base, RINGMASTER_PREFETCH_BATCHES: '0' }),
      (e: InputError) => e.issues.some((i) => i.path === 'RINGMASTER_PREFETCH_BATCHES'),
    );
  });

  it('takes RINGMASTER_OVERLAP_ALLREDUCE: auto (default), on, off', () => {
    assert.equal(workerConfigFromEnv(base).overlapAllReduce, 'auto');
    assert.equal(
      workerConfigFromEnv({ ...base, RINGMASTER_OVERLAP_ALLREDUCE: 'on' }).overlapAllReduce,
      'on',
    );
    assert.throws(
      () => workerConfigFromEnv({ ...base, RINGMASTER_OVERLAP_ALLREDUCE: 'yes' }),
      (e: InputError) => e.issues.some((i) => i.path === 'RINGMASTER_OVERLAP_ALLREDUCE'),
    );
  });
});
