/**
 * harness/cluster-dns.ts stands in for CoreDNS on the real node: workers find rank 0 by
 * `<pod hostname>.<headless Service>.<ns>.svc`. Queried here through Node's own resolver on
 * 127.0.0.1 with the API replaced by a fake: the per-pod record needs the pod's hostname and
 * subdomain and a Service of that name, a Service name gives its ClusterIP, the search-list
 * variants and everything else are NXDOMAIN, AAAA is empty.
 */
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import type * as k8s from '@kubernetes/client-node';
import {
  startClusterDns,
  type ClusterDns,
  type PodsAndServices,
} from '../../../harness/cluster-dns.js';

const pod = (ns: string, hostname: string, subdomain: string, ip: string): k8s.V1Pod => ({
  metadata: { name: hostname, namespace: ns, labels: { app: subdomain } },
  spec: { hostname, subdomain, containers: [] },
  status: { podIP: ip },
});

const services: Record<string, k8s.V1Service> = {
  'ml/r-ring': { spec: { clusterIP: 'None', selector: { app: 'r-ring' } } },
  'ml/api': { spec: { clusterIP: '10.96.0.10' } },
};
const pods = [
  pod('ml', 'r-worker-0', 'r-ring', '10.244.0.7'),
  pod('ml', 'r-worker-1', 'r-ring', '10.244.0.8'),
  pod('ml', 'x-worker-0', 'x-ring', '10.244.0.9'),
];

const fake = {
  readNamespacedService: async ({ name, namespace }: { name: string; namespace: string }) => {
    const s = services[`${namespace}/${name}`];
    if (!s) throw Object.assign(new Error('not found'), { code: 404 });
    return s;
  },
  listNamespacedPod: async ({
    namespace,
    labelSelector,
  }: {
    namespace: string;
    labelSelector?: string;
  }) => ({
    items: pods.filter(
      (p) =>
        p.metadata!.namespace === namespace &&
        (!labelSelector || labelSelector === `app=${p.metadata!.labels!.app}`),
    ),
  }),
} as unknown as PodsAndServices;

describe('cluster DNS of the real node', () => {
  let dns: ClusterDns;
  const resolver = new Resolver({ timeout: 2000, tries: 1 });

  before(async () => {
    dns = await startClusterDns({ ip: '127.0.0.1', port: 0, core: fake });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
  });
  after(() => dns.stop());

  it("a pod's stable name through its headless Service", async () => {
    assert.deepEqual(await resolver.resolve4('r-worker-0.r-ring.ml.svc.cluster.local'), [
      '10.244.0.7',
    ]);
    assert.deepEqual(await resolver.resolve4('R-Worker-1.r-ring.ml.svc.cluster.local'), [
      '10.244.0.8',
    ]);
  });

  it('no Service of the subdomain, another namespace, a search-list variant: NXDOMAIN', async () => {
    for (const name of [
      'x-worker-0.x-ring.ml.svc.cluster.local',
      'r-worker-0.r-ring.other.svc.cluster.local',
      'r-worker-0.r-ring.ml.svc.ml.svc.cluster.local',
      'example.com',
    ]) {
      await assert.rejects(resolver.resolve4(name), { code: 'ENOTFOUND' }, name);
    }
  });

  it("a Service's name: its ClusterIP, or a headless Service's pods", async () => {
    assert.deepEqual(await resolver.resolve4('api.ml.svc.cluster.local'), ['10.96.0.10']);
    assert.deepEqual((await resolver.resolve4('r-ring.ml.svc.cluster.local')).sort(), [
      '10.244.0.7',
      '10.244.0.8',
    ]);
  });

  it('AAAA of a known name: no data (not an error that stops the lookup)', async () => {
    await assert.rejects(resolver.resolve6('r-worker-0.r-ring.ml.svc.cluster.local'), {
      code: 'ENODATA',
    });
  });
});
