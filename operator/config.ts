/**
 * The operator's configuration: parsed once at start from the environment (the Helm chart
 * sets it), validated, frozen, and passed inward. Nothing below main.ts reads process.env.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { LABEL_COMPONENT, OperatorEnv } from '../api/names.js';
import { EnvReader } from '../common/parse.js';
import type { PlannerSettings } from './reconcile/types.js';

export interface OperatorConfig {
  /** Namespaces to watch for recipes; empty = all namespaces. */
  watchNamespaces: readonly string[];
  /** The operator's own namespace (its Lease lives there). */
  namespace: string;
  /** This replica's name in the Lease and in events. */
  identity: string;
  /** /metrics (and the probes); 0 = any free port, -1 = no server. */
  httpPort: number;
  /** /healthz and /readyz on a port of their own (the chart's health port); undefined = httpPort. */
  healthPort?: number;
  httpHost: string;
  leaderElection: {
    enabled: boolean;
    leaseName: string;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  };
  /** Recipes reconciled in parallel (one worker per recipe at a time). */
  concurrency: number;
  /** Informers relist this often even when their watches look healthy. */
  relistIntervalSeconds: number;
  /** Every recipe is reconciled at least this often (level-triggered safety net). */
  resyncSeconds: number;
  planner: PlannerSettings;
}

/** The release; the chart's appVersion is the same (test/integration/helm checks). */
const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
/**
 * Worker images when a recipe names none, for an operator started outside the chart: the
 * chart passes its own (--worker-image, --worker-gpu-image), whose defaults are these
 * (test/integration/helm checks). The GPU image for recipes with gpusPerWorker > 0.
 */
export const DEFAULT_IMAGE = `ringmaster/trainer:${VERSION}`;
export const DEFAULT_GPU_IMAGE = `${DEFAULT_IMAGE}-gpu`;

type Env = Readonly<Record<string, string | undefined>>;

export function parseOperatorConfig(
  env: Env,
  overrides: Partial<OperatorConfig> = {},
): Readonly<OperatorConfig> {
  const r = new EnvReader(env);
  const labels = (key: string, def: Record<string, string>): Record<string, string> => {
    const raw = env[key];
    if (!raw) return def;
    const out: Record<string, string> = {};
    for (const pair of raw.split(',')) {
      const [k, v] = pair.split('=');
      if (!k || v === undefined) r.issue(key, `expected k=v[,k=v] (got ${JSON.stringify(raw)})`);
      else out[k.trim()] = v.trim();
    }
    return out;
  };
  let workerCommand = ['ringmaster', 'worker'];
  const rawCommand = env[OperatorEnv.workerCommand];
  if (rawCommand) {
    try {
      const parsed: unknown = JSON.parse(rawCommand);
      if (
        !Array.isArray(parsed) ||
        parsed.length === 0 ||
        !parsed.every((s) => typeof s === 'string')
      )
        throw new Error();
      workerCommand = parsed as string[];
    } catch {
      r.issue(OperatorEnv.workerCommand, 'must be a JSON array of strings');
    }
  }
  const leaseDuration = r.int(OperatorEnv.leaseDurationSeconds, 15, { min: 1 });
  const renewDeadline = r.int(OperatorEnv.renewDeadlineSeconds, 10, { min: 1 });
  if (renewDeadline >= leaseDuration) {
    r.issue(OperatorEnv.renewDeadlineSeconds, 'must be less than the lease duration');
  }
  const config: OperatorConfig = {
    watchNamespaces: (env[OperatorEnv.watchNamespaces] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    namespace: env.POD_NAMESPACE || 'ringmaster-system',
    identity: env.POD_NAME || `${hostname()}-${randomBytes(3).toString('hex')}`,
    httpPort: r.int(OperatorEnv.httpPort, 8080, { min: -1, max: 65_535 }),
    httpHost: env[OperatorEnv.httpHost] || '0.0.0.0',
    ...(env[OperatorEnv.healthPort]
      ? { healthPort: r.int(OperatorEnv.healthPort, 8081, { min: 0, max: 65_535 }) }
      : {}),
    leaderElection: {
      enabled: r.bool(OperatorEnv.leaderElection, false),
      leaseName: env[OperatorEnv.leaseName] || 'ringmaster-operator',
      leaseDurationSeconds: leaseDuration,
      renewDeadlineSeconds: renewDeadline,
      retryPeriodSeconds: r.int(OperatorEnv.retryPeriodSeconds, 2, { min: 1 }),
    },
    concurrency: r.int(OperatorEnv.concurrency, 4, { min: 1 }),
    relistIntervalSeconds: r.int(OperatorEnv.relistSeconds, 300, { min: 1 }),
    resyncSeconds: r.int(OperatorEnv.resyncSeconds, 600, { min: 1 }),
    planner: {
      defaultImage: env[OperatorEnv.defaultImage] || DEFAULT_IMAGE,
      defaultGpuImage: env[OperatorEnv.defaultGpuImage] || DEFAULT_GPU_IMAGE,
      workerCommand,
      operatorNamespace: env.POD_NAMESPACE || 'ringmaster-system',
      // The chart's labels on the operator pods (the recipes' NetworkPolicies let them in).
      operatorPodLabels: labels(OperatorEnv.operatorPodLabels, {
        'app.kubernetes.io/name': 'ringmaster',
        [LABEL_COMPONENT]: 'operator',
      }),
      nodeLostGraceSeconds: r.int(OperatorEnv.nodeLostGraceSeconds, 40, { min: 0 }),
      forceDeleteAfterSeconds: r.int(OperatorEnv.forceDeleteAfterSeconds, 30, { min: 0 }),
      successGraceSeconds: r.int(OperatorEnv.successGraceSeconds, 60, { min: 0 }),
      restartBackoffBaseSeconds: r.int(OperatorEnv.restartBackoffSeconds, 10, { min: 0 }),
      restartBackoffMaxSeconds: r.int(OperatorEnv.restartBackoffMaxSeconds, 300, { min: 0 }),
      progressIntervalSeconds: r.int(OperatorEnv.progressIntervalSeconds, 10, { min: 1 }),
      terminationGracePeriodSeconds: r.int(OperatorEnv.workerTerminationGraceSeconds, 120, {
        min: 0,
      }),
    },
  };
  r.check(`invalid operator configuration: ${r.issues.length} problem(s)`);
  return deepFreeze({
    ...config,
    ...overrides,
    leaderElection: { ...config.leaderElection, ...overrides.leaderElection },
    planner: { ...config.planner, ...overrides.planner },
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
