import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import {
  findKubeBinaries,
  startControlPlane,
  type ControlPlane,
} from '../../../harness/control-plane.js';
import { applyManifests, ensureNamespace, parseManifests } from '../../../harness/kube.js';
import { DEFAULT_GPU_IMAGE, DEFAULT_IMAGE } from '../../../operator/config.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../../..');
const chart = join(root, 'charts/ringmaster');
const release = 'ringmaster';
const releaseNs = 'ringmaster-system';

function helmBin(): string | undefined {
  const cache = process.env.RINGMASTER_CACHE ?? join(homedir(), '.cache', 'ringmaster');
  const bin = process.env.HELM_BIN ?? join(cache, 'bin', 'helm');
  return existsSync(bin) ? bin : undefined;
}

async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(helmBin()!, args, { maxBuffer: 16 << 20 });
  return stdout;
}

function template(...set: string[]): Promise<string> {
  return helm([
    'template',
    release,
    chart,
    '--namespace',
    releaseNs,
    ...set.flatMap((s) => ['--set', s]),
  ]);
}

function find(objs: k8s.KubernetesObject[], kind: string, name?: string): any {
  return objs.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
}

describe('helm chart charts/ringmaster', function () {
  this.timeout(120_000);

  before(function () {
    if (!helmBin()) {
      console.log('    (skipped: helm not found: run .ci/setup.d/40-helm.sh or set HELM_BIN)');
      this.skip();
    }
  });

  it('passes helm lint --strict', async () => {
    const out = await helm(['lint', '--strict', chart]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('renders a hardened operator Deployment with probes, metrics and no leader election at 1 replica', async () => {
    const objs = parseManifests(await template());
    const deploy = find(objs, 'Deployment');
    const c = deploy.spec.template.spec.containers[0];
    assert.equal(deploy.spec.replicas, 1);
    assert.equal(deploy.spec.strategy.type, 'Recreate');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.ok(c.ports.some((p: any) => p.name === 'metrics' && p.containerPort === 8080));
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(deploy.spec.template.spec.securityContext.runAsNonRoot, true);
    assert.ok(!c.args.includes('--leader-elect'));
    assert.equal(c.args[0], 'operator');
    assert.ok(find(objs, 'Service', `${release}-metrics`));
    assert.ok(find(objs, 'NetworkPolicy'));
    assert.equal(find(objs, 'ServiceMonitor'), undefined);
  });

  it('turns on Lease leader election with two replicas', async () => {
    const objs = parseManifests(await template('replicaCount=2'));
    const deploy = find(objs, 'Deployment');
    const args: string[] = deploy.spec.template.spec.containers[0].args;
    assert.ok(args.includes('--leader-elect'));
    assert.ok(args.includes('--lease-namespace=$(POD_NAMESPACE)'));
    assert.equal(deploy.spec.strategy.type, 'RollingUpdate');
  });

  it("passes the CPU and GPU worker images, defaulting to the operator's own defaults", async () => {
    const args = async (...set: string[]): Promise<Record<string, string>> => {
      const deploy = find(parseManifests(await template(...set)), 'Deployment');
      const list: string[] = deploy.spec.template.spec.containers[0].args;
      return Object.fromEntries(
        list.filter((a) => a.startsWith('--worker')).map((a) => a.slice(2).split('=', 2)),
      );
    };
    // One default: the chart's values render what operator/config.ts falls back to.
    assert.deepEqual(await args(), {
      'worker-image': DEFAULT_IMAGE,
      'worker-gpu-image': DEFAULT_GPU_IMAGE,
    });
    assert.deepEqual(await args('workerImage.repository=reg.local/t', 'workerImage.tag=e2e'), {
      'worker-image': 'reg.local/t:e2e',
      'worker-gpu-image': 'reg.local/t:e2e-gpu',
    });
    assert.deepEqual(await args('workerImage.gpuTag=cuda12'), {
      'worker-image': DEFAULT_IMAGE,
      'worker-gpu-image': DEFAULT_IMAGE.replace(/:[^:]+$/, ':cuda12'),
    });
  });

  it('rejects values the schema does not allow, naming the field', async () => {
    await assert.rejects(template('replicaCount=-1'), /replicaCount/);
    await assert.rejects(template('logLevel=loud'), /logLevel/);
    await assert.rejects(template('noSuchKey=1'), /noSuchKey|additional/i);
  });

  it('ships the generated CRDs unchanged', async () => {
    const rendered = parseManifests(await helm(['show', 'crds', chart]));
    for (const plural of ['trainingrecipes', 'trainingstudies']) {
      const crd = find(rendered, 'CustomResourceDefinition', `${plural}.ringmaster.dev`);
      assert.ok(crd, `chart crds/ has the ${plural} CRD`);
      assert.equal(crd.spec.group, 'ringmaster.dev');
      // The generator writes both copies; they must never drift apart.
      assert.equal(
        readFileSync(join(chart, `crds/ringmaster.dev_${plural}.yaml`), 'utf8'),
        readFileSync(join(root, `crds/ringmaster.dev_${plural}.yaml`), 'utf8'),
      );
    }
  });

  describe('against the test control plane', () => {
    let cp: ControlPlane | undefined;

    before(async function () {
      const found = findKubeBinaries();
      if (!found.ok) {
        console.log(`    (skipped: ${found.reason})`);
        this.skip();
      }
      cp = await startControlPlane({ bins: found.bins });
      await cp.installCrds([
        join(chart, 'crds/ringmaster.dev_trainingrecipes.yaml'),
        join(chart, 'crds/ringmaster.dev_trainingstudies.yaml'),
      ]);
      for (const ns of [releaseNs, 'team-a', 'team-b']) await ensureNamespace(cp.kubeConfig, ns);
    });

    after(async () => {
      await cp?.stop();
    });

    async function can(kc: k8s.KubeConfig, attrs: k8s.V1ResourceAttributes): Promise<boolean> {
      const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
      const review = await authz.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: attrs } },
      });
      return review.status?.allowed === true;
    }

    it('applies cleanly and grants the operator exactly what it needs (cluster-wide)', async () => {
      const applied = await applyManifests(
        cp!.kubeConfig,
        await template('metrics.serviceMonitor.enabled=false'),
      );
      assert.ok(applied.some((o) => o.kind === 'Deployment'));
      const sa = await cp!.serviceAccountKubeConfig(releaseNs, release);
      const rm = { group: 'ringmaster.dev', resource: 'trainingrecipes' };
      const allowed: [string, k8s.V1ResourceAttributes][] = [
        ['watch recipes anywhere', { ...rm, verb: 'watch' }],
        [
          'patch recipe status',
          { ...rm, subresource: 'status', verb: 'patch', namespace: 'team-a' },
        ],
        // spec.seeds: one child recipe per seed.
        ['create recipes', { ...rm, verb: 'create', namespace: 'team-a' }],
        [
          'watch studies anywhere',
          { group: 'ringmaster.dev', resource: 'trainingstudies', verb: 'watch' },
        ],
        [
          'patch study status',
          {
            group: 'ringmaster.dev',
            resource: 'trainingstudies',
            subresource: 'status',
            verb: 'patch',
            namespace: 'team-a',
          },
        ],
        ['create pods', { resource: 'pods', verb: 'create', namespace: 'team-b' }],
        ['delete pods', { resource: 'pods', verb: 'delete', namespace: 'team-a' }],
        ['create secrets', { resource: 'secrets', verb: 'create', namespace: 'team-a' }],
        [
          'create network policies',
          {
            group: 'networking.k8s.io',
            resource: 'networkpolicies',
            verb: 'create',
            namespace: 'team-a',
          },
        ],
        ['create events', { resource: 'events', verb: 'create', namespace: 'team-a' }],
        ['watch nodes', { resource: 'nodes', verb: 'watch' }],
        [
          'update own lease',
          {
            group: 'coordination.k8s.io',
            resource: 'leases',
            verb: 'update',
            namespace: releaseNs,
          },
        ],
      ];
      const denied: [string, k8s.V1ResourceAttributes][] = [
        ['delete recipes', { ...rm, verb: 'delete', namespace: 'team-a' }],
        [
          "edit a study's spec",
          {
            group: 'ringmaster.dev',
            resource: 'trainingstudies',
            verb: 'patch',
            namespace: 'team-a',
          },
        ],
        [
          'delete studies',
          {
            group: 'ringmaster.dev',
            resource: 'trainingstudies',
            verb: 'delete',
            namespace: 'team-a',
          },
        ],
        [
          'update pods (no in-place edits)',
          { resource: 'pods', verb: 'update', namespace: 'team-a' },
        ],
        [
          'exec into pods',
          { resource: 'pods', subresource: 'exec', verb: 'create', namespace: 'team-a' },
        ],
        [
          'leases elsewhere',
          { group: 'coordination.k8s.io', resource: 'leases', verb: 'create', namespace: 'team-a' },
        ],
        [
          'deployments',
          { group: 'apps', resource: 'deployments', verb: 'create', namespace: 'team-a' },
        ],
        ['delete nodes', { resource: 'nodes', verb: 'delete' }],
        [
          'edit RBAC',
          { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verb: 'create' },
        ],
        ['delete namespaces', { resource: 'namespaces', verb: 'delete' }],
      ];
      for (const [what, attrs] of allowed)
        assert.equal(await can(sa, attrs), true, `should allow: ${what}`);
      for (const [what, attrs] of denied)
        assert.equal(await can(sa, attrs), false, `should deny: ${what}`);

      // And for real, not just by review: the operator's token lists recipes and creates a pod.
      const objects = sa.makeApiClient(k8s.CustomObjectsApi);
      await objects.listClusterCustomObject({
        group: 'ringmaster.dev',
        version: 'v1alpha1',
        plural: 'trainingrecipes',
      });
      const core = sa.makeApiClient(k8s.CoreV1Api);
      await core.createNamespacedConfigMap({
        namespace: 'team-a',
        body: { metadata: { name: 'by-operator' } },
      });
    });

    it('accepts the manifests users apply: the examples and the kind e2e MinIO (server dry run; the journey recipe is applied for real by test:cluster)', async () => {
      for (const file of [
        'examples/resnet50-recipe.yaml',
        'examples/ablation/study.yaml',
        'examples/fashion-mnist-study.yaml',
        'test/e2e/kind/minio.yaml',
      ]) {
        const text = readFileSync(join(root, file), 'utf8');
        const applied = await applyManifests(cp!.kubeConfig, text, {
          namespace: 'team-a',
          dryRun: 'All',
        }).catch((e: Error) => {
          throw new Error(`${file}: ${e.message}`);
        });
        assert.ok(applied.length > 0, file);
      }
    });

    it('confines the operator to watchNamespaces when set', async () => {
      const kc = cp!.kubeConfig;
      const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
      // Switching modes: the cluster-wide binding of the previous test is not part of this render.
      await rbac.deleteClusterRoleBinding({ name: release }).catch((e: { code?: number }) => {
        if (e.code !== 404) throw e;
      });
      await applyManifests(kc, await template('watchNamespaces={team-a}'));
      const sa = await cp!.serviceAccountKubeConfig(releaseNs, release);
      assert.equal(await can(sa, { resource: 'pods', verb: 'create', namespace: 'team-a' }), true);
      assert.equal(await can(sa, { resource: 'pods', verb: 'create', namespace: 'team-b' }), false);
      assert.equal(
        await can(sa, {
          group: 'ringmaster.dev',
          resource: 'trainingrecipes',
          verb: 'list',
          namespace: 'team-b',
        }),
        false,
      );
    });
  });
});
