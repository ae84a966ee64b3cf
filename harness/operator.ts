/** Shared set-up of operator integration tests and the operator benchmark. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { API_VERSION, KIND, recipesPath, studiesPath } from '../api/names.js';
import { parseOperatorConfig, type OperatorConfig } from '../operator/config.js';
import { Operator } from '../operator/operator.js';
import { KubeRest, statusOf } from '../operator/kube/rest.js';
import type { TrainingRecipeObject } from '../operator/reconcile/types.js';

export const quietLog = pino({ level: process.env.RINGMASTER_TEST_LOG ?? 'silent' });

/** Test-speed timers: no restart backoff, short leases, fast progress polling. */
export function testOperatorEnv(
  identity: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    POD_NAMESPACE: 'ringmaster-system',
    POD_NAME: identity,
    RINGMASTER_HTTP_PORT: '0',
    RINGMASTER_HTTP_HOST: '127.0.0.1',
    RINGMASTER_LEADER_ELECTION: 'false',
    RINGMASTER_RESTART_BACKOFF_SECONDS: '0',
    RINGMASTER_SUCCESS_GRACE_SECONDS: '1',
    RINGMASTER_PROGRESS_INTERVAL_SECONDS: '1',
    RINGMASTER_LEASE_DURATION_SECONDS: '4',
    RINGMASTER_RENEW_DEADLINE_SECONDS: '3',
    RINGMASTER_RETRY_PERIOD_SECONDS: '1',
    RINGMASTER_NODE_LOST_GRACE_SECONDS: '2',
    RINGMASTER_FORCE_DELETE_AFTER_SECONDS: '1',
    RINGMASTER_WORKER_TERMINATION_GRACE_SECONDS: '5',
    ...extra,
  };
}

export function makeOperator(
  kubeConfig: KubeConfig,
  env: Record<string, string>,
  overrides: Partial<OperatorConfig> = {},
): Operator {
  const config = parseOperatorConfig(env, overrides);
  return new Operator({ kubeConfig, config, log: quietLog.child({ identity: config.identity }) });
}

export function recipeManifest(
  name: string,
  namespace: string,
  spec: Record<string, unknown> = {},
  runPolicy: Record<string, unknown> = {},
): TrainingRecipeObject {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace } as TrainingRecipeObject['metadata'],
    spec: {
      workers: 2,
      gpusPerWorker: 0,
      image: 'ringmaster/trainer:test',
      data: { train: 'synthetic:tiny', val: 'synthetic:tiny' },
      output: mkdtempSync(join(tmpdir(), `ringmaster-out-${name}-`)),
      recipe: { epochs: 1, lrWarmupEpochs: 0 },
      ...spec,
      runPolicy: { backoffLimit: 3, ...runPolicy },
    },
  };
}

export const recipePath = (ns: string, name?: string) => recipesPath(ns, name);

/** No garbage collector in the test control plane: remove what a test left behind. */
export async function cleanNamespace(rest: KubeRest, ns: string): Promise<void> {
  const del = async (path: string) => {
    try {
      await rest.request('DELETE', path, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 },
      });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  };
  const collections = [
    // Studies first (they own recipes); a control plane without their CRD has none.
    studiesPath(ns),
    recipePath(ns),
    `/api/v1/namespaces/${ns}/pods`,
    `/api/v1/namespaces/${ns}/secrets`,
    `/api/v1/namespaces/${ns}/configmaps`,
    `/api/v1/namespaces/${ns}/services`,
    `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`,
  ];
  for (const c of collections) {
    let list: { items: Array<{ metadata: { name: string } }> };
    try {
      list = await rest.get<typeof list>(c);
    } catch (err) {
      if (statusOf(err) === 404) continue;
      throw err;
    }
    await Promise.all(list.items.map((o) => del(`${c}/${o.metadata.name}`)));
  }
}
