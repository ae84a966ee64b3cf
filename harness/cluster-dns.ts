// Cluster DNS for the one-machine test cluster: the records CoreDNS's kubernetes plugin serves
// that Ringmaster's pods use, answered from the API server. Workers find rank 0 by its stable
// name through the recipe's headless Service (`<hostname>.<subdomain>.<ns>.svc.cluster.local`,
// the pod's spec.hostname and spec.subdomain, with a Service of that name in the namespace);
// a Service's own name resolves to its ClusterIP. Anything else: NXDOMAIN (pods here resolve
// nothing outside the cluster; their S3 endpoint is an IP URL).
// UDP only, A records only (AAAA: no data), TTL 5 s. The kubelet points pods at it
// (clusterDNS); it listens on the node IP, never 0.0.0.0, and is stopped by the test's
// cluster.stop().
import { createSocket, type Socket } from 'node:dgram';
import * as k8s from '@kubernetes/client-node';

const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;

export interface ClusterDns {
  ip: string;
  port: number;
  /** Queries answered so far (name → times), for tests and diagnostics. */
  answered: Map<string, number>;
  stop(): Promise<void>;
}

interface Question {
  name: string;
  type: number;
  end: number;
}

function readQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  for (;;) {
    const len = msg[i];
    if (len === undefined || len > 63) return undefined;
    i += 1;
    if (len === 0) break;
    labels.push(
      msg
        .subarray(i, i + len)
        .toString('ascii')
        .toLowerCase(),
    );
    i += len;
  }
  if (i + 4 > msg.length) return undefined;
  return { name: labels.join('.'), type: msg.readUInt16BE(i), end: i + 4 };
}

function reply(query: Buffer, q: Question | undefined, rcode: number, ips: string[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, AA, RD copied from the query; RA.
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(q ? 1 : 0, 4);
  header.writeUInt16BE(ips.length, 6);
  const parts: Buffer[] = [header];
  if (q) parts.push(query.subarray(12, q.end));
  for (const ip of ips) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(5, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
    parts.push(rr);
  }
  return Buffer.concat(parts);
}

/**
 * The addresses of a cluster name, or undefined when it does not exist. `domain` is the
 * cluster domain (cluster.local); names under `<ns>.svc.<domain>` only.
 */
/** The two reads the server makes (a CoreV1Api, or a fake in unit tests). */
export type PodsAndServices = Pick<k8s.CoreV1Api, 'readNamespacedService' | 'listNamespacedPod'>;

export async function resolveClusterName(
  core: PodsAndServices,
  name: string,
  domain: string,
): Promise<string[] | undefined> {
  const suffix = `.svc.${domain}`;
  if (!name.endsWith(suffix)) return undefined;
  const parts = name.slice(0, -suffix.length).split('.');
  const notFound = (err: unknown) => {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  };
  if (parts.length === 2) {
    const [svc, ns] = parts as [string, string];
    const s = await core.readNamespacedService({ name: svc, namespace: ns }).catch(notFound);
    if (!s) return undefined;
    const ip = s.spec?.clusterIP;
    if (ip && ip !== 'None') return [ip];
    // Headless: the ready pods its selector picks.
    const sel = Object.entries(s.spec?.selector ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    if (!sel) return [];
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: sel });
    return pods.items.map((p) => p.status?.podIP).filter((ip): ip is string => !!ip);
  }
  if (parts.length === 3) {
    const [host, sub, ns] = parts as [string, string, string];
    const s = await core.readNamespacedService({ name: sub, namespace: ns }).catch(notFound);
    if (!s) return undefined;
    const pods = await core.listNamespacedPod({ namespace: ns });
    const pod = pods.items.find(
      (p) => p.spec?.hostname === host && p.spec?.subdomain === sub && p.status?.podIP,
    );
    return pod ? [pod.status!.podIP!] : undefined;
  }
  return undefined;
}

export async function startClusterDns(opts: {
  ip: string;
  port?: number;
  kubeConfig?: k8s.KubeConfig;
  core?: PodsAndServices;
  domain?: string;
}): Promise<ClusterDns> {
  const domain = opts.domain ?? 'cluster.local';
  const core = opts.core ?? opts.kubeConfig!.makeApiClient(k8s.CoreV1Api);
  const answered = new Map<string, number>();
  const sock: Socket = createSocket('udp4');
  sock.on('message', (msg, from) => {
    const q = readQuestion(msg);
    const send = (b: Buffer) => sock.send(b, from.port, from.address);
    if (!q) {
      send(reply(msg, undefined, RCODE_FORMERR, []));
      return;
    }
    resolveClusterName(core, q.name, domain)
      .then((ips) => {
        if (ips === undefined) return send(reply(msg, q, RCODE_NXDOMAIN, []));
        answered.set(q.name, (answered.get(q.name) ?? 0) + 1);
        send(reply(msg, q, 0, q.type === TYPE_A ? ips : []));
      })
      .catch(() => {
        // SERVFAIL: the resolver retries.
        send(reply(msg, q, 2, []));
      });
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts.port ?? 53, opts.ip, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return {
    ip: opts.ip,
    port: sock.address().port,
    answered,
    stop: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
