/**
 * An informer: list, then watch from the list's resourceVersion, into an in-memory store.
 *
 * What client-node 1.x's makeInformer does not do, and this does: restart after any error
 * (1.x stops on everything but 410 Gone), relist on a timer (watches have been seen to go
 * silent), swap the store atomically on relist (a half-filled cache would look like "all
 * pods were deleted" to the planner), and say when it has synced.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../common/log.js';
import { ApiError, type KubeRest, type WatchEvent } from './rest.js';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export type ChangeType = 'add' | 'update' | 'delete';
export type ChangeHandler<T> = (type: ChangeType, obj: T) => void;

export interface ReflectorOptions {
  /** For logs and metrics: 'pods', 'trainingrecipes', … */
  name: string;
  /** The collection path (namespaced or cluster-wide). */
  path: string;
  labelSelector?: string;
  /** Full relist this often even when the watch looks healthy. */
  relistIntervalMs: number;
  /** Backoff after errors: base·2^n, capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface ReflectorHooks {
  onRelist?: (name: string) => void;
  onError?: (name: string, err: unknown) => void;
}

export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : (obj.metadata?.name ?? '');
}

export class Reflector<T extends KubeObject> {
  private store = new Map<string, T>();
  private readonly handlers: ChangeHandler<T>[] = [];
  private resourceVersion = '';
  private stopped = false;
  private abort?: AbortController;
  private loop?: Promise<void>;
  private syncedOnce = false;
  private syncWaiters: Array<() => void> = [];
  /** When the last list or watch event succeeded (for /healthz). */
  lastContact = 0;
  consecutiveErrors = 0;

  constructor(
    private readonly rest: KubeRest,
    private readonly opts: ReflectorOptions,
    private readonly log: Logger,
    private readonly hooks: ReflectorHooks = {},
  ) {}

  on(handler: ChangeHandler<T>): void {
    this.handlers.push(handler);
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  /** Resolves once the first list has filled the store. */
  waitForSync(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
  }

  private async run(): Promise<void> {
    const base = this.opts.backoffBaseMs ?? 500;
    const max = this.opts.backoffMaxMs ?? 30_000;
    while (!this.stopped) {
      try {
        await this.relist();
        const relistAt = Date.now() + this.opts.relistIntervalMs;
        while (!this.stopped && Date.now() < relistAt) {
          await this.watchOnce(relistAt - Date.now());
        }
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof ApiError && err.statusCode === 410) {
          // The resourceVersion is too old: relist at once, nothing is wrong.
          this.resourceVersion = '';
          continue;
        }
        this.consecutiveErrors++;
        this.hooks.onError?.(this.opts.name, err);
        const delay = Math.min(max, base * 2 ** Math.min(this.consecutiveErrors - 1, 16));
        this.log.warn(
          { informer: this.opts.name, err: String(err), retryInMs: delay },
          'informer error; restarting',
        );
        await sleep(delay).catch(() => undefined);
      }
    }
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.rest.get<{
        items?: T[];
        metadata?: { resourceVersion?: string; continue?: string };
      }>(this.opts.path, {
        labelSelector: this.opts.labelSelector,
        limit: 500,
        continue: cont,
      });
      items.push(...(page.items ?? []));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    if (this.stopped) return;
    // The new store is built aside and swapped in one step: readers never see it half full.
    const next = new Map<string, T>();
    for (const item of items) next.set(objectKey(item), item);
    const prev = this.store;
    this.store = next;
    this.resourceVersion = rv;
    this.lastContact = Date.now();
    this.consecutiveErrors = 0;
    this.hooks.onRelist?.(this.opts.name);
    for (const [key, obj] of next) {
      const old = prev.get(key);
      if (!old) this.emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
        this.emit('update', obj);
    }
    for (const [key, old] of prev) if (!next.has(key)) this.emit('delete', old);
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(remainingMs: number): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    const timer = setTimeout(() => abort.abort(), remainingMs);
    try {
      await this.rest.watch(
        this.opts.path,
        {
          labelSelector: this.opts.labelSelector,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          // The server ends the watch by itself now and then; we simply watch again.
          timeoutSeconds: Math.max(1, Math.min(300, Math.ceil(remainingMs / 1000))),
        },
        (e) => this.handle(e),
        abort.signal,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private handle(e: WatchEvent): void {
    const obj = e.object as T;
    this.lastContact = Date.now();
    this.consecutiveErrors = 0;
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (e.type === 'BOOKMARK') return;
    const key = objectKey(obj);
    if (e.type === 'DELETED') {
      if (this.store.delete(key)) this.emit('delete', obj);
      return;
    }
    const old = this.store.get(key);
    this.store.set(key, obj);
    if (!old) this.emit('add', obj);
    else if (old.metadata?.resourceVersion !== rv) this.emit('update', obj);
  }

  private emit(type: ChangeType, obj: T): void {
    for (const h of this.handlers) {
      try {
        h(type, obj);
      } catch (err) {
        this.log.error({ informer: this.opts.name, err: String(err) }, 'informer handler threw');
      }
    }
  }
}

/** What the controller and reconciler need from a cache; one or several reflectors behind it. */
export interface Cache<T extends KubeObject> {
  on(handler: ChangeHandler<T>): void;
  get(key: string): T | undefined;
  list(): T[];
  start(): void;
  stop(): Promise<void>;
  waitForSync(): Promise<void>;
  readonly consecutiveErrors: number;
}

/** One cache over several namespaces (a namespaced install lists each namespace by itself). */
export class MultiCache<T extends KubeObject> implements Cache<T> {
  constructor(private readonly parts: ReadonlyArray<Reflector<T>>) {}
  on(handler: ChangeHandler<T>): void {
    for (const p of this.parts) p.on(handler);
  }
  get(key: string): T | undefined {
    for (const p of this.parts) {
      const v = p.get(key);
      if (v) return v;
    }
    return undefined;
  }
  list(): T[] {
    return this.parts.flatMap((p) => p.list());
  }
  start(): void {
    for (const p of this.parts) p.start();
  }
  async stop(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.stop()));
  }
  async waitForSync(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.waitForSync()));
  }
  get consecutiveErrors(): number {
    return Math.max(0, ...this.parts.map((p) => p.consecutiveErrors));
  }
}
