// The real Kueue manager (sigs.k8s.io/kueue, built by .ci/setup.d/36-kueue.sh) against a test
// control plane, with its pod integration on and its admission webhooks reachable:
//
// - Webhooks: the manager serves them on 127.0.0.1:<port> with a certificate made here
//   (openssl, SAN IP:127.0.0.1); the module's own webhook configurations are registered with
//   `url: https://127.0.0.1:<port><path>` and that certificate as caBundle (internal cert
//   management off: it would issue a cert for `<service>.<ns>.svc`, a name this control
//   plane cannot route to). Only Kueue's own kinds and pods are registered, the pod webhooks
//   limited to the namespaces a test marks with KUEUE_TEST_NAMESPACE_LABEL.
// - Kueue v0.17's main() reads its metrics certificate from the fixed path
//   /etc/kueue/metrics/certs whenever internal cert management is off, and exits if it is
//   missing. The manager therefore runs in a private mount namespace (`unshare --mount`)
//   where a scratch directory holding that certificate is bind-mounted over /etc; the host's
//   /etc is never touched and the mount disappears with the process.
// - The visibility API server (VisibilityOnDemand) is off: it wants its certificate at
//   /visibility/tls.crt and is reachable only as an aggregated API through a Service, which
//   this control plane (no kube-proxy, no cluster network) cannot route.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { ControlPlane } from './control-plane.js';
import { freePort } from './control-plane.js';
import { parseManifests, waitFor } from './kube.js';
import { failOnExit, logTail, startProcess, stopProcess, type Managed } from './processes.js';

/** Label a test puts on a namespace whose pods Kueue's pod webhook should see. */
export const KUEUE_TEST_NAMESPACE_LABEL = 'ringmaster.dev/kueue-test';

const setupHint = 'run .ci/setup.d/36-kueue.sh';

export interface KueueAssets {
  manager: string;
  crds: string[];
  webhooks: string;
}

/** Where the manager and its CRDs are, or why they are not there. */
export function findKueue(
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; assets: KueueAssets } | { ok: false; reason: string } {
  const cache = env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster');
  const manager = join(cache, 'bin', 'kueue-manager');
  const crdDir = join(cache, 'kueue', 'crd');
  const webhooks = join(cache, 'kueue', 'webhook.yaml');
  if (!existsSync(manager) || !existsSync(webhooks) || !existsSync(crdDir)) {
    return { ok: false, reason: `no Kueue manager in ${cache}: ${setupHint}` };
  }
  const crds = readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(crdDir, f));
  if (crds.length === 0) return { ok: false, reason: `no Kueue CRDs in ${crdDir}: ${setupHint}` };
  try {
    execFileSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'ignore' });
  } catch {
    return {
      ok: false,
      reason:
        'unshare --mount failed (needs root): Kueue v0.17 reads its metrics certificate from ' +
        '/etc/kueue/metrics/certs, which the test provides in a private mount namespace',
    };
  }
  return { ok: true, assets: { manager, crds, webhooks } };
}

export interface Kueue {
  /** The manager's log file. */
  logPath: string;
  stop(): Promise<void>;
}

export interface KueueOptions {
  assets: KueueAssets;
  /** Scratch dir for certificates, config and the log (inside the control plane's dir). */
  dir: string;
}

const MUTATING = 'ringmaster-test-kueue-mutating';
const VALIDATING = 'ringmaster-test-kueue-validating';

/** Install Kueue's CRDs, start the manager and register its webhooks; resolves when ready. */
export async function startKueue(cp: ControlPlane, opts: KueueOptions): Promise<Kueue> {
  const { assets } = opts;
  const dir = join(opts.dir, 'kueue');
  const certDir = join(dir, 'certs');
  const etc = join(dir, 'etc');
  const metricsCerts = join(etc, 'kueue', 'metrics', 'certs');
  mkdirSync(certDir, { recursive: true });
  mkdirSync(metricsCerts, { recursive: true });
  selfSignedCert(certDir);
  for (const f of ['tls.crt', 'tls.key'])
    writeFileSync(join(metricsCerts, f), readFileSync(join(certDir, f)));

  await cp.installCrds(assets.crds);
  const core = cp.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'kueue-system' } } }).catch(ignore409);

  const [webhookPort, healthPort] = [await freePort(), await freePort()];
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, managerConfig({ webhookPort, healthPort, certDir }));
  const proc: Managed = startProcess(
    'kueue-manager',
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount --bind "$0" /etc && exec "$@"',
      etc,
      assets.manager,
      `--config=${configPath}`,
      `--kubeconfig=${cp.kubeconfigPath}`,
      '--feature-gates=VisibilityOnDemand=false',
      '--zap-log-level=2',
    ],
    join(dir, 'manager.log'),
  );
  const stop = async (): Promise<void> => {
    // Webhooks first: with failurePolicy Fail, pod updates would fail once the server is gone.
    const admission = cp.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
    await admission.deleteMutatingWebhookConfiguration({ name: MUTATING }).catch(() => undefined);
    await admission
      .deleteValidatingWebhookConfiguration({ name: VALIDATING })
      .catch(() => undefined);
    await stopProcess(proc, 10_000);
  };
  try {
    await Promise.race([
      failOnExit(proc),
      waitFor(() => httpOk(`http://127.0.0.1:${healthPort}/readyz`), {
        timeoutMs: 90_000,
        intervalMs: 250,
        what: 'kueue-manager /readyz',
      }),
    ]);
    await registerWebhooks(cp.kubeConfig, assets.webhooks, webhookPort, certDir);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${logTail(proc.logPath, 40)}`);
  }
  return { logPath: proc.logPath, stop };
}

function managerConfig(o: { webhookPort: number; healthPort: number; certDir: string }): string {
  return `apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
health:
  healthProbeBindAddress: 127.0.0.1:${o.healthPort}
metrics:
  bindAddress: "0"
webhook:
  host: 127.0.0.1
  port: ${o.webhookPort}
  certDir: ${o.certDir}
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
managedJobsNamespaceSelector:
  matchLabels:
    ${KUEUE_TEST_NAMESPACE_LABEL}: "true"
integrations:
  frameworks: ["pod"]
`;
}

function selfSignedCert(dir: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=kueue-webhook-test',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'tls.key'),
      '-out',
      join(dir, 'tls.crt'),
    ],
    { stdio: 'ignore' },
  );
}

interface WebhookEntry {
  name: string;
  clientConfig: { service?: { path?: string }; url?: string; caBundle?: string };
  rules?: Array<{ apiGroups?: string[]; resources?: string[] }>;
  namespaceSelector?: unknown;
  [k: string]: unknown;
}

/**
 * The module's webhook configurations, kept to Kueue's own kinds and pods, pointed at the
 * manager by url. Pod webhooks see only namespaces labelled for the test (as the chart's
 * namespaceSelector keeps them off system namespaces).
 */
async function registerWebhooks(
  kc: k8s.KubeConfig,
  manifestPath: string,
  port: number,
  certDir: string,
): Promise<void> {
  const caBundle = readFileSync(join(certDir, 'tls.crt')).toString('base64');
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  for (const obj of parseManifests(readFileSync(manifestPath, 'utf8'))) {
    const raw = obj as unknown as { kind: string; webhooks?: WebhookEntry[] };
    const webhooks = (raw.webhooks ?? [])
      .filter((w) =>
        (w.rules ?? []).some(
          (r) => r.apiGroups?.includes('kueue.x-k8s.io') || r.resources?.includes('pods'),
        ),
      )
      .map((w) => {
        const isPod = (w.rules ?? []).some((r) => r.resources?.includes('pods'));
        const path = w.clientConfig.service?.path ?? '/';
        return {
          ...w,
          clientConfig: { url: `https://127.0.0.1:${port}${path}`, caBundle },
          ...(isPod
            ? { namespaceSelector: { matchLabels: { [KUEUE_TEST_NAMESPACE_LABEL]: 'true' } } }
            : {}),
        };
      });
    if (raw.kind === 'MutatingWebhookConfiguration') {
      await admission.createMutatingWebhookConfiguration({
        body: { metadata: { name: MUTATING }, webhooks } as k8s.V1MutatingWebhookConfiguration,
      });
    } else if (raw.kind === 'ValidatingWebhookConfiguration') {
      await admission.createValidatingWebhookConfiguration({
        body: {
          metadata: { name: VALIDATING },
          webhooks,
        } as k8s.V1ValidatingWebhookConfiguration,
      });
    }
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function ignore409(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err;
}
