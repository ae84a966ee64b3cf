/**
 * A thin JSON client for the Kubernetes API on top of client-node's KubeConfig (which does
 * the auth: certs, tokens, exec plugins, in-cluster config).
 *
 * Why not the generated 1.x API classes: their models rename wire fields (`from` → `_from`)
 * and turn timestamps into Dates, while watch events arrive as plain JSON. The operator keeps
 * one representation — the wire format — in its caches, its planner and its writes, and
 * counts every write in one place (steady state must make none).
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { recipesPath } from '../../api/names.js';

export const ContentType = {
  json: 'application/json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** An error response of the API server, with its HTTP status and the Status reason. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function statusOf(err: unknown): number | undefined {
  return err instanceof ApiError ? err.statusCode : undefined;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export type WriteListener = (verb: string, path: string) => void;

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: any;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const AUTH_REFRESH_MS = 60_000;

export class KubeRest {
  private readonly server: URL;
  private opts?: { at: number; options: https.RequestOptions };
  private agent?: http.Agent;
  private readonly writeListeners: WriteListener[] = [];
  /** Total writes sent (creates, patches, deletes), for tests and benchmarks. */
  writes = 0;

  constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  onWrite(listener: WriteListener): void {
    this.writeListeners.push(listener);
  }

  /** Auth headers and TLS material; refreshed now and then (rotated tokens, exec plugins). */
  private async options(): Promise<https.RequestOptions> {
    const now = Date.now();
    if (this.opts && now - this.opts.at < AUTH_REFRESH_MS) return this.opts.options;
    const options: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(options);
    if (!this.agent) {
      const base = { keepAlive: true, maxSockets: 64 };
      this.agent =
        this.server.protocol === 'https:'
          ? new https.Agent({
              ...base,
              ca: options.ca,
              cert: options.cert,
              key: options.key,
              pfx: options.pfx,
              passphrase: options.passphrase,
              servername: options.servername,
              ...(options.rejectUnauthorized !== undefined
                ? { rejectUnauthorized: options.rejectUnauthorized }
                : {}),
            })
          : new http.Agent(base);
    }
    const agentFromKc = (options as { agent?: http.Agent }).agent;
    if (agentFromKc && agentFromKc !== this.agent) agentFromKc.destroy();
    options.agent = this.agent;
    this.opts = { at: now, options };
    return options;
  }

  private url(path: string, query?: RequestOptions['query']): URL {
    const url = new URL(this.server.toString().replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async open(
    method: string,
    url: URL,
    opts: RequestOptions,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const base = await this.options();
    const headers: Record<string, string> = {
      Accept: 'application/json',
      ...(base.headers as Record<string, string>),
    };
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      headers['Content-Type'] = opts.contentType ?? ContentType.json;
      headers['Content-Length'] = String(payload.length);
    }
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { ...base, method, headers, signal }, resolve);
      req.on('error', reject);
      if (opts.timeoutMs)
        req.setTimeout(opts.timeoutMs, () =>
          req.destroy(new Error(`${method} ${url.pathname}: timed out`)),
        );
      req.end(payload);
    });
  }

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    if (WRITE_METHODS.has(method)) {
      this.writes++;
      for (const l of this.writeListeners) l(method, path);
    }
    const res = await this.open(method, this.url(path, opts.query), { timeoutMs: 30_000, ...opts });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? safeJson(text) : undefined;
    const code = res.statusCode ?? 0;
    if (code < 200 || code >= 300) {
      const status = body as { reason?: string; message?: string } | undefined;
      throw new ApiError(
        code,
        status?.reason ?? '',
        `${method} ${path}: ${code} ${status?.message ?? text.slice(0, 200)}`,
        body,
      );
    }
    return body as T;
  }

  get<T = any>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  /**
   * One watch request: calls `onEvent` per event until the server ends the stream (resolves)
   * or the request fails (rejects with ApiError, e.g. 410 Gone for an expired resourceVersion).
   */
  async watch(
    path: string,
    query: RequestOptions['query'],
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await this.open('GET', this.url(path, { ...query, watch: true }), {}, signal);
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const body = safeJson(Buffer.concat(chunks).toString('utf8')) as
        { reason?: string; message?: string } | undefined;
      throw new ApiError(
        res.statusCode ?? 0,
        body?.reason ?? '',
        `watch ${path}: ${res.statusCode} ${body?.message ?? ''}`,
        body,
      );
    }
    let buf = '';
    try {
      for await (const chunk of res) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const event = safeJson(line) as WatchEvent | undefined;
          if (!event) continue;
          if (event.type === 'ERROR') {
            const s = event.object as { code?: number; reason?: string; message?: string };
            throw new ApiError(
              s.code ?? 500,
              s.reason ?? '',
              `watch ${path}: ${s.message ?? 'error event'}`,
              s,
            );
          }
          onEvent(event);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  close(): void {
    this.agent?.destroy();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** API paths of the resources the operator touches. */
export const paths = {
  recipes: (ns?: string) => recipesPath(ns),
  recipe: (ns: string, name: string) => recipesPath(ns, name),
  core: (kind: string, ns?: string) =>
    ns ? `/api/v1/namespaces/${ns}/${kind}` : `/api/v1/${kind}`,
  networkPolicies: (ns?: string) =>
    ns
      ? `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`
      : '/apis/networking.k8s.io/v1/networkpolicies',
  leases: (ns: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
};

/** The collection path of a namespaced object by apiVersion/kind (only kinds we write). */
export function collectionPath(apiVersion: string, kind: string, ns: string): string {
  const plural: Record<string, string> = {
    Secret: 'secrets',
    ConfigMap: 'configmaps',
    Service: 'services',
    Pod: 'pods',
    Event: 'events',
    NetworkPolicy: 'networkpolicies',
    Lease: 'leases',
    TrainingRecipe: 'trainingrecipes',
  };
  const p = plural[kind];
  if (!p) throw new Error(`no path known for ${apiVersion} ${kind}`);
  return apiVersion === 'v1'
    ? `/api/v1/namespaces/${ns}/${p}`
    : `/apis/${apiVersion}/namespaces/${ns}/${p}`;
}
