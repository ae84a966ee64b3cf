/**
 * The operator's entry point: `ringmaster operator [flags]` (bin/ringmaster.js hands the
 * `operator` subcommand here, so the trainer's CLI never imports the operator) or
 * `node --import tsx operator/main.ts [flags]`. Flags are the chart's contract
 * (docs/deploy.md); every flag also has an environment variable (docs/operator.md), flags win.
 * Runs until SIGTERM/SIGINT: graceful shutdown finishes reconciles in flight, stops the
 * informers and releases the leader Lease.
 */
import { Command } from 'commander';
import { KubeConfig } from '@kubernetes/client-node';
import { OperatorEnv } from '../api/names.js';
import { describeError, exitCodeOf } from '../common/errors.js';
import { log } from '../common/log.js';
import { parseOperatorConfig } from './config.js';
import { Operator } from './operator.js';

interface Flags {
  metricsPort?: string;
  healthPort?: string;
  resyncSeconds?: string;
  workerImage?: string;
  workerGpuImage?: string;
  logLevel?: string;
  namespaces?: string;
  leaderElect?: boolean;
  leaseName?: string;
  leaseNamespace?: string;
}

/** Flags → the environment variables they stand for (one parser for both sources). */
function envFromFlags(flags: Flags, env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  const set = (key: string, v: string | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  set(OperatorEnv.httpPort, flags.metricsPort);
  set(OperatorEnv.healthPort, flags.healthPort);
  set(OperatorEnv.relistSeconds, flags.resyncSeconds);
  set(OperatorEnv.resyncSeconds, flags.resyncSeconds);
  set(OperatorEnv.defaultImage, flags.workerImage);
  set(OperatorEnv.defaultGpuImage, flags.workerGpuImage);
  set(OperatorEnv.watchNamespaces, flags.namespaces);
  if (flags.leaderElect) out[OperatorEnv.leaderElection] = 'true';
  set(OperatorEnv.leaseName, flags.leaseName);
  set('POD_NAMESPACE', flags.leaseNamespace ?? env.POD_NAMESPACE);
  return out;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('ringmaster operator')
    .description('Reconcile TrainingRecipes into worker pods')
    .option('--metrics-port <n>', `port of /metrics (env ${OperatorEnv.httpPort}, default 8080)`)
    .option('--health-port <n>', 'port of /healthz and /readyz (default: the metrics port)')
    .option('--resync-seconds <n>', 'full relist and resync period (default 300 / 600)')
    .option('--worker-image <image>', 'worker image when a recipe names none (CPU recipes)')
    .option('--worker-gpu-image <image>', 'the same for recipes with gpusPerWorker > 0')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .option('--namespaces <a,b>', 'namespaces to watch (default: all)')
    .option('--leader-elect', 'Lease-based leader election (for 2+ replicas)')
    .option('--lease-name <name>', 'name of the leader Lease')
    .option('--lease-namespace <ns>', 'namespace of the leader Lease (default POD_NAMESPACE)')
    .exitOverride();
  program.parse(argv[0] === 'operator' ? argv.slice(1) : argv, { from: 'user' });
  const flags = program.opts<Flags>();
  if (flags.logLevel) log.level = flags.logLevel;

  const config = parseOperatorConfig(envFromFlags(flags, process.env));
  const kubeConfig = new KubeConfig();
  // KUBECONFIG / ~/.kube/config, or the pod's service account in a cluster.
  kubeConfig.loadFromDefault();
  const logger = log.child({ component: 'operator', identity: config.identity });
  const operator = new Operator({
    kubeConfig,
    config,
    log: logger,
    processMetrics: true,
    onLostLeadership: () => {
      logger.error('leadership lost; exiting so the Deployment restarts this replica');
      process.exit(1);
    },
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    operator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: String(err) }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await operator.start();
  logger.info(
    {
      watchNamespaces: config.watchNamespaces.length > 0 ? config.watchNamespaces : '(all)',
      httpPort: operator.httpPort,
      leaderElection: config.leaderElection.enabled,
    },
    'operator started',
  );
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const code = (err as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(0);
  process.stderr.write(`ringmaster operator: ${describeError(err)}\n`);
  process.exit(code?.startsWith('commander.') ? 2 : exitCodeOf(err));
});
