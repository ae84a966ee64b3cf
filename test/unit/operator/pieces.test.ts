import assert from 'node:assert/strict';
import { InputError } from '../../../common/errors.js';
import { parseOperatorConfig } from '../../../operator/config.js';
import { microTime } from '../../../operator/kube/leader.js';
import { resourceOf } from '../../../operator/operator.js';
import { sanitizeProgress } from '../../../api/progress.js';
import { mergePatch, nodeHealth } from '../../../operator/reconcile/reconciler.js';

describe('operator pieces', () => {
  it('sanitizes progress.json into what the status schema accepts', () => {
    const p = sanitizeProgress({
      phase: 'training',
      epoch: 3,
      epochs: 10,
      step: 1.5,
      totalSteps: -1,
      imagesPerSec: 123.456,
      etaSeconds: null,
      metrics: { acc1: 12.5, acc5: null, emaAcc1: 'x', emaAcc5: 40 },
      lastCheckpoint: 's3://b/out/checkpoints/epoch-000003',
      weights: null,
      updatedAt: '2026-01-01T00:00:00Z',
    });
    assert.deepEqual(p, {
      epoch: 3,
      epochs: 10,
      imagesPerSec: 123.46,
      metrics: { acc1: 12.5, emaAcc5: 40 },
      lastCheckpoint: { uri: 's3://b/out/checkpoints/epoch-000003' },
      updatedAt: '2026-01-01T00:00:00Z',
      reportedPhase: 'training',
    });
    assert.equal(sanitizeProgress('garbage'), undefined);
    assert.equal(sanitizeProgress([1, 2]), undefined);
  });

  it('builds merge patches with nulls for removed fields', () => {
    const prev = {
      phase: 'Running',
      startTime: 't',
      progress: { epoch: 1, step: 5 },
      conditions: [{ type: 'A' }],
    };
    const next = {
      phase: 'Suspended',
      progress: { epoch: 1, step: 6 },
      conditions: [{ type: 'A' }, { type: 'B' }],
    };
    assert.deepEqual(mergePatch(prev, next), {
      startTime: null,
      phase: 'Suspended',
      progress: { step: 6 },
      conditions: [{ type: 'A' }, { type: 'B' }],
    });
  });

  it('reads node readiness and when it changed', () => {
    assert.deepEqual(
      nodeHealth({
        status: {
          conditions: [
            { type: 'Ready', status: 'Unknown', lastTransitionTime: '2026-01-01T00:00:00Z' as any },
          ],
        },
      }),
      { ready: false, since: '2026-01-01T00:00:00Z' },
    );
    assert.equal(nodeHealth(undefined), undefined);
  });

  it('parses its configuration once, with every problem named', () => {
    const c = parseOperatorConfig({
      POD_NAMESPACE: 'ops',
      RINGMASTER_WORKER_COMMAND: '["node","sim.js"]',
      RINGMASTER_CONCURRENCY: '8',
    });
    assert.equal(c.namespace, 'ops');
    assert.equal(c.planner.operatorNamespace, 'ops');
    assert.deepEqual(c.planner.workerCommand, ['node', 'sim.js']);
    assert.equal(c.concurrency, 8);
    assert.ok(Object.isFrozen(c.planner));
    assert.throws(
      () =>
        parseOperatorConfig({
          RINGMASTER_CONCURRENCY: '0',
          RINGMASTER_WORKER_COMMAND: 'ringmaster worker',
          RINGMASTER_LEADER_ELECTION: 'maybe',
        }),
      (err: unknown) =>
        err instanceof InputError &&
        ['RINGMASTER_CONCURRENCY', 'RINGMASTER_WORKER_COMMAND', 'RINGMASTER_LEADER_ELECTION'].every(
          (p) => err.issues.some((i) => i.path === p),
        ),
    );
  });

  it('reads ports, switches and periods with the shared parser (-1 = no metrics server)', () => {
    const c = parseOperatorConfig({
      RINGMASTER_HTTP_PORT: '-1',
      RINGMASTER_HEALTH_PORT: '8081',
      RINGMASTER_LEADER_ELECTION: 'yes',
      RINGMASTER_RESYNC_SECONDS: '1_200',
    });
    assert.equal(c.httpPort, -1);
    assert.equal(c.healthPort, 8081);
    assert.equal(c.leaderElection.enabled, true);
    assert.equal(c.resyncSeconds, 1200);
    assert.throws(
      () => parseOperatorConfig({ RINGMASTER_HTTP_PORT: '-2', RINGMASTER_HEALTH_PORT: '70000' }),
      (err: unknown) =>
        err instanceof InputError &&
        err.issues.map((i) => i.path).join(' ') === 'RINGMASTER_HTTP_PORT RINGMASTER_HEALTH_PORT',
    );
  });

  it('formats Lease times as MicroTime and names resources for metrics', () => {
    assert.equal(microTime(new Date('2026-01-01T00:00:00.123Z')), '2026-01-01T00:00:00.123000Z');
    assert.equal(resourceOf('/api/v1/namespaces/ml/pods/r-worker-0'), 'pods');
    assert.equal(
      resourceOf('/apis/ringmaster.dev/v1alpha1/namespaces/ml/trainingrecipes/r/status'),
      'trainingrecipes',
    );
  });
});
