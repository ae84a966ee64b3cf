/**
 * Progress without API access for workers: rank 0 writes `<output>/progress.json`, the
 * operator reads it through the storage layer (S3 with the recipe's own credentials, or a
 * local path) and copies it into the status. Reads are throttled per recipe; a missing or
 * garbled file is "no news", never an error that blocks reconciling.
 */
import { NotFoundError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { openStorage, type S3Credentials, type Storage } from '../common/storage/storage.js';
import type { KubeRest } from './kube/rest.js';
import type { CheckpointRef, ProgressReport, RecipeMetrics } from './reconcile/types.js';

export const PROGRESS_FILE = 'progress.json';

/** Turns whatever the file holds into fields the status schema accepts; drops the rest. */
export function sanitizeProgress(raw: unknown): ProgressReport | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const out: ProgressReport = {};
  const int = (v: unknown) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
  const nonneg = (v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  for (const k of ['epoch', 'epochs', 'step', 'totalSteps'] as const) {
    const v = int(r[k]);
    if (v !== undefined) out[k] = v;
  }
  const ips = nonneg(r.imagesPerSec);
  if (ips !== undefined) out.imagesPerSec = Math.round(ips * 100) / 100;
  const eta = nonneg(r.etaSeconds);
  if (eta !== undefined) out.etaSeconds = Math.round(eta);
  if (r.metrics && typeof r.metrics === 'object') {
    const m = r.metrics as Record<string, unknown>;
    const metrics: RecipeMetrics = {};
    for (const k of ['acc1', 'acc5', 'emaAcc1', 'emaAcc5'] as const) {
      const v = num(m[k]);
      if (v !== undefined) metrics[k] = v;
    }
    if (Object.keys(metrics).length > 0) out.metrics = metrics;
  }
  const lc = r.lastCheckpoint;
  if (typeof lc === 'string' && lc) out.lastCheckpoint = { uri: lc };
  else if (lc && typeof lc === 'object') {
    const c = lc as Record<string, unknown>;
    const ref: CheckpointRef = {};
    if (typeof c.uri === 'string') ref.uri = c.uri;
    if (int(c.epoch) !== undefined) ref.epoch = int(c.epoch);
    if (int(c.step) !== undefined) ref.step = int(c.step);
    if (typeof c.time === 'string' && !Number.isNaN(Date.parse(c.time)))
      ref.time = new Date(c.time).toISOString();
    if (Object.keys(ref).length > 0) out.lastCheckpoint = ref;
  }
  if (typeof r.weights === 'string' && r.weights) out.weights = r.weights;
  if (typeof r.updatedAt === 'string') out.updatedAt = r.updatedAt;
  return out;
}

export interface ProgressSource {
  /** The recipe's progress, or undefined when there is none (yet). */
  read(key: string, target: ProgressTarget, force?: boolean): Promise<ProgressReport | undefined>;
  forget(key: string): void;
}

export interface ProgressTarget {
  namespace: string;
  output: string;
  endpoint?: string;
  credentialsSecret?: string;
}

interface Entry {
  storage: Storage;
  fingerprint: string;
  at: number;
  value?: ProgressReport;
}

export class StorageProgressSource implements ProgressSource {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly rest: KubeRest,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  private async credentials(
    ns: string,
    secret: string | undefined,
  ): Promise<S3Credentials | undefined> {
    if (!secret) return undefined;
    const s = await this.rest.get<{ data?: Record<string, string> }>(
      `/api/v1/namespaces/${ns}/secrets/${secret}`,
    );
    const get = (k: string) =>
      s.data?.[k] ? Buffer.from(s.data[k], 'base64').toString('utf8') : undefined;
    const accessKeyId = get('AWS_ACCESS_KEY_ID');
    const secretAccessKey = get('AWS_SECRET_ACCESS_KEY');
    if (!accessKeyId || !secretAccessKey) return undefined;
    const sessionToken = get('AWS_SESSION_TOKEN');
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }

  async read(key: string, t: ProgressTarget, force = false): Promise<ProgressReport | undefined> {
    const fingerprint = `${t.output}|${t.endpoint ?? ''}|${t.credentialsSecret ?? ''}`;
    let e = this.entries.get(key);
    if (e && e.fingerprint === fingerprint && !force && Date.now() - e.at < this.intervalMs)
      return e.value;
    try {
      if (!e || e.fingerprint !== fingerprint) {
        e?.storage.close();
        const credentials = await this.credentials(t.namespace, t.credentialsSecret);
        const storage = openStorage(t.output, {
          ...(t.endpoint ? { endpoint: t.endpoint } : {}),
          ...(credentials ? { credentials } : {}),
          retries: 1,
        });
        e = { storage, fingerprint, at: 0 };
        this.entries.set(key, e);
      }
      e.at = Date.now();
      const body = await e.storage.get(PROGRESS_FILE);
      e.value = sanitizeProgress(JSON.parse(body.toString('utf8')));
    } catch (err) {
      if (!(err instanceof NotFoundError))
        this.log.debug({ recipe: key, err: String(err) }, 'progress not readable');
      if (e) e.at = Date.now();
    }
    return e?.value;
  }

  forget(key: string): void {
    this.entries.get(key)?.storage.close();
    this.entries.delete(key);
  }

  close(): void {
    for (const e of this.entries.values()) e.storage.close();
    this.entries.clear();
  }
}
