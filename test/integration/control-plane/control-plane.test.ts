import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  findKubeBinaries,
  startControlPlane,
  statusCode,
  type ControlPlane,
} from '../../../harness/control-plane.js';
import { applyManifests, ensureNamespace } from '../../../harness/kube.js';

const repoCrd = join(import.meta.dirname, '../../../crds/ringmaster.dev_trainingrecipes.yaml');

// Until the generated CRD exists, a minimal one with the same names proves the harness.
const minimalCrd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: trainingrecipes.ringmaster.dev}
spec:
  group: ringmaster.dev
  scope: Namespaced
  names: {kind: TrainingRecipe, listKind: TrainingRecipeList, plural: trainingrecipes, singular: trainingrecipe}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`;

describe('test control plane (etcd + kube-apiserver)', function () {
  this.timeout(180_000);
  let cp: ControlPlane | undefined;

  before(async function () {
    const found = findKubeBinaries();
    if (!found.ok) {
      console.log(`    (skipped: ${found.reason})`);
      this.skip();
    }
    cp = await startControlPlane({ bins: found.bins });
  });

  after(async () => {
    await cp?.stop();
  });

  it('serves the core API with an admin identity and RBAC on', async () => {
    const core = cp!.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await ensureNamespace(cp!.kubeConfig, 'cp-test');
    const cm = await core.createNamespacedConfigMap({
      namespace: 'cp-test',
      body: { metadata: { name: 'hello' }, data: { a: '1' } },
    });
    assert.equal(cm.metadata?.namespace, 'cp-test');
    const back = await core.readNamespacedConfigMap({ namespace: 'cp-test', name: 'hello' });
    assert.deepEqual(back.data, { a: '1' });
    // RBAC is enforced: the same server without the admin token is refused.
    const anonymous = new k8s.KubeConfig();
    anonymous.loadFromOptions({
      clusters: cp!.kubeConfig.clusters,
      users: [{ name: 'nobody' }],
      contexts: [{ name: 'anon', cluster: cp!.kubeConfig.clusters[0]!.name, user: 'nobody' }],
      currentContext: 'anon',
    });
    const refused = await anonymous
      .makeApiClient(k8s.CoreV1Api)
      .listNamespace()
      .then(
        () => 200,
        (e: unknown) => statusCode(e),
      );
    assert.ok(refused === 401 || refused === 403, `anonymous list answered ${refused}`);
  });

  it('installs the TrainingRecipe CRD and round-trips an object', async () => {
    let crdPath = repoCrd;
    if (!existsSync(crdPath)) {
      crdPath = join(cp!.dir, 'minimal-crd.yaml');
      writeFileSync(crdPath, minimalCrd);
    }
    await cp!.installCrds([crdPath]);
    // Installing again (an upgrade) must be accepted too.
    await cp!.installCrds([crdPath]);
    const objects = cp!.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    const created = (await objects.createNamespacedCustomObject({
      group: 'ringmaster.dev',
      version: 'v1alpha1',
      namespace: 'cp-test',
      plural: 'trainingrecipes',
      body: {
        apiVersion: 'ringmaster.dev/v1alpha1',
        kind: 'TrainingRecipe',
        metadata: { name: 'tiny' },
        spec: {
          workers: 1,
          data: { train: 's3://b/train', val: 's3://b/val' },
          output: 's3://b/out',
        },
      },
    })) as { metadata: { uid: string } };
    assert.ok(created.metadata.uid);
    const list = (await objects.listNamespacedCustomObject({
      group: 'ringmaster.dev',
      version: 'v1alpha1',
      namespace: 'cp-test',
      plural: 'trainingrecipes',
    })) as { items: { metadata: { name: string } }[] };
    assert.deepEqual(
      list.items.map((i) => i.metadata.name),
      ['tiny'],
    );
  });

  it('issues ServiceAccount tokens whose RBAC is enforced', async () => {
    const kc = cp!.kubeConfig;
    await applyManifests(
      kc,
      `apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: cp-test}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader, namespace: cp-test}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: cp-test}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects:
- {kind: ServiceAccount, name: reader, namespace: cp-test}
`,
    );
    const sa = (await cp!.serviceAccountKubeConfig('cp-test', 'reader')).makeApiClient(
      k8s.CoreV1Api,
    );
    const cm = await sa.readNamespacedConfigMap({ namespace: 'cp-test', name: 'hello' });
    assert.equal(cm.data?.a, '1');
    const denied = await sa
      .createNamespacedConfigMap({ namespace: 'cp-test', body: { metadata: { name: 'nope' } } })
      .then(
        () => 0,
        (e: unknown) => statusCode(e),
      );
    assert.equal(denied, 403);
  });

  it('runs kubectl against it', async () => {
    const out = await cp!.kubectl([
      'get',
      'configmap',
      'hello',
      '-n',
      'cp-test',
      '-o',
      'jsonpath={.data.a}',
    ]);
    assert.equal(out, '1');
  });
});
