/**
 * The worker's environment contract: defaults, the collectives' transport, and errors that
 * name the variable.
 */
import assert from 'node:assert/strict';
import { InputError } from '../../trainer/errors.js';
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
});
