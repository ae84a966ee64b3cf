/**
 * The operator's configuration: parsed once at start from the environment (the Helm chart
 * sets it), validated, frozen, and passed inward. Nothing below main.ts reads process.env.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { EnvReader } from '../trainer/config/parse.js';
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
  if (env.RINGMASTER_WORKER_COMMAND) {
    try {
      const parsed: unknown = JSON.parse(env.RINGMASTER_WORKER_COMMAND);
      if (
        !Array.isArray(parsed) ||
        parsed.length === 0 ||
        !parsed.every((s) => typeof s === 'string')
      )
        throw new Error();
      workerCommand = parsed as string[];
    } catch {
      r.issue('RINGMASTER_WORKER_COMMAND', 'must be a JSON array of strings');
    }
  }
  const leaseDuration = r.int('RINGMASTER_LEASE_DURATION_SECONDS', 15, { min: 1 });
  const renewDeadline = r.int('RINGMASTER_RENEW_DEADLINE_SECONDS', 10, { min: 1 });
  if (renewDeadline >= leaseDuration) {
    r.issue('RINGMASTER_RENEW_DEADLINE_SECONDS', 'must be less than the lease duration');
  }
  const config: OperatorConfig = {
    watchNamespaces: (env.RINGMASTER_WATCH_NAMESPACES ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    namespace: env.POD_NAMESPACE || 'ringmaster-system',
    identity: env.POD_NAME || `${hostname()}-${randomBytes(3).toString('hex')}`,
    httpPort: r.int('RINGMASTER_HTTP_PORT', 8080, { min: -1, max: 65_535 }),
    httpHost: env.RINGMASTER_HTTP_HOST || '0.0.0.0',
    ...(env.RINGMASTER_HEALTH_PORT
      ? { healthPort: r.int('RINGMASTER_HEALTH_PORT', 8081, { min: 0, max: 65_535 }) }
      : {}),
    leaderElection: {
      enabled: r.bool('RINGMASTER_LEADER_ELECTION', false),
      leaseName: env.RINGMASTER_LEASE_NAME || 'ringmaster-operator',
      leaseDurationSeconds: leaseDuration,
      renewDeadlineSeconds: renewDeadline,
      retryPeriodSeconds: r.int('RINGMASTER_RETRY_PERIOD_SECONDS', 2, { min: 1 }),
    },
    concurrency: r.int('RINGMASTER_CONCURRENCY', 4, { min: 1 }),
    relistIntervalSeconds: r.int('RINGMASTER_RELIST_SECONDS', 300, { min: 1 }),
    resyncSeconds: r.int('RINGMASTER_RESYNC_SECONDS', 600, { min: 1 }),
    planner: {
      defaultImage: env.RINGMASTER_DEFAULT_IMAGE || DEFAULT_IMAGE,
      defaultGpuImage: env.RINGMASTER_DEFAULT_GPU_IMAGE || DEFAULT_GPU_IMAGE,
      workerCommand,
      operatorNamespace: env.POD_NAMESPACE || 'ringmaster-system',
      // The chart's labels on the operator pods (the recipes' NetworkPolicies let them in).
      operatorPodLabels: labels('RINGMASTER_OPERATOR_POD_LABELS', {
        'app.kubernetes.io/name': 'ringmaster',
        'app.kubernetes.io/component': 'operator',
      }),
      nodeLostGraceSeconds: r.int('RINGMASTER_NODE_LOST_GRACE_SECONDS', 40, { min: 0 }),
      forceDeleteAfterSeconds: r.int('RINGMASTER_FORCE_DELETE_AFTER_SECONDS', 30, { min: 0 }),
      successGraceSeconds: r.int('RINGMASTER_SUCCESS_GRACE_SECONDS', 60, { min: 0 }),
      restartBackoffBaseSeconds: r.int('RINGMASTER_RESTART_BACKOFF_SECONDS', 10, { min: 0 }),
      restartBackoffMaxSeconds: r.int('RINGMASTER_RESTART_BACKOFF_MAX_SECONDS', 300, { min: 0 }),
      progressIntervalSeconds: r.int('RINGMASTER_PROGRESS_INTERVAL_SECONDS', 10, { min: 1 }),
      terminationGracePeriodSeconds: r.int('RINGMASTER_WORKER_TERMINATION_GRACE_SECONDS', 120, {
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
