/**
 * The operator's entry point (the image runs `node --import tsx operator/main.ts`).
 * Reads the environment once, then runs until SIGTERM/SIGINT: graceful shutdown finishes
 * reconciles in flight, stops the informers and releases the leader Lease.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { describeError, exitCodeOf } from '../trainer/errors.js';
import { log } from '../trainer/log.js';
import { parseOperatorConfig } from './config.js';
import { Operator } from './operator.js';

async function main(): Promise<void> {
  const config = parseOperatorConfig(process.env);
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
      watchNamespace: config.watchNamespace || '(all)',
      httpPort: operator.httpPort,
      leaderElection: config.leaderElection.enabled,
    },
    'operator started',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`ringmaster-operator: ${describeError(err)}\n`);
  process.exit(exitCodeOf(err));
});
