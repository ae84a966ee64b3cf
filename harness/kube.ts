// Small helpers for tests that talk to a real API server: load a kubeconfig, apply YAML
// (server-side apply, like `kubectl apply --server-side`), and poll until a predicate holds.
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout error, e.g. "recipe demo Succeeded". */
  what?: string;
}

/**
 * Poll `check` until it returns a truthy value and resolve with that value. Errors thrown by
 * `check` count as "not yet"; the last one is reported if the wait times out.
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${why}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function kubeConfigFromFile(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** Parse every non-empty document of a (multi-document) YAML string. */
export function parseManifests(text: string): k8s.KubernetesObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as k8s.KubernetesObject | null)
    .filter((o): o is k8s.KubernetesObject => !!o && typeof o === 'object' && !!o.kind);
}

export interface ApplyOptions {
  /** Namespace for namespaced objects that name none. */
  namespace?: string;
  fieldManager?: string;
  /** 'All' asks the server to validate and admit without persisting. */
  dryRun?: 'All';
}

/**
 * Server-side apply of every object in a YAML text, in order. Returns the objects as the
 * server answered. Objects without a namespace get `opts.namespace` when their kind is
 * namespaced (the API server's discovery decides).
 */
export async function applyManifests(
  kc: k8s.KubeConfig,
  text: string,
  opts: ApplyOptions = {},
): Promise<k8s.KubernetesObject[]> {
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  const applied: k8s.KubernetesObject[] = [];
  for (const obj of parseManifests(text)) {
    obj.metadata = obj.metadata ?? {};
    if (!obj.metadata.namespace && opts.namespace) {
      const namespaced = await isNamespaced(client, obj);
      if (namespaced) obj.metadata.namespace = opts.namespace;
    }
    applied.push(
      await client.patch(
        obj,
        undefined,
        opts.dryRun,
        opts.fieldManager ?? 'ringmaster-test',
        true,
        k8s.PatchStrategy.ServerSideApply,
      ),
    );
  }
  return applied;
}

export async function applyYamlFile(
  kc: k8s.KubeConfig,
  path: string,
  opts: ApplyOptions = {},
): Promise<k8s.KubernetesObject[]> {
  return applyManifests(kc, readFileSync(path, 'utf8'), opts);
}

async function isNamespaced(
  client: k8s.KubernetesObjectApi,
  obj: k8s.KubernetesObject,
): Promise<boolean> {
  // resourceNamespaced is not public in client-node's types, but discovery is what decides.
  const r = (
    client as unknown as {
      resource(apiVersion: string, kind: string): Promise<{ namespaced: boolean } | undefined>;
    }
  ).resource(obj.apiVersion ?? 'v1', obj.kind ?? '');
  return (await r)?.namespaced ?? true;
}

export async function ensureNamespace(kc: k8s.KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}
