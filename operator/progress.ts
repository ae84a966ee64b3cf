/**
 * Progress without API access for workers: rank 0 writes `<output>/progress.json`
 * (api/progress.ts), the operator reads it through the storage layer (S3 with the recipe's
 * own credentials, or a local path) and copies it into the status. Reads are throttled per
 * recipe; a missing or garbled file is "no news", never an error that blocks reconciling.
 */
import { PROGRESS_FILE } from '../api/names.js';
import { sanitizeProgress, type ProgressReport } from '../api/progress.js';
import { NotFoundError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { openStorage, type S3Credentials, type Storage } from '../common/storage/storage.js';
import type { KubeRest } from './kube/rest.js';

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
