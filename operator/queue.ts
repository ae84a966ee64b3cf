/**
 * A per-key work queue, the client-go way: a key waiting in the queue is there once however
 * often it is added; a key being processed is never processed by a second worker at the same
 * time (added again meanwhile, it runs once more afterwards); failures back off
 * exponentially per key; `addAfter` schedules a later look (requeue-after).
 */
export interface WorkQueueOptions {
  concurrency: number;
  /** First retry delay after a failure; doubles per consecutive failure of the key. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface QueueStats {
  depth: number;
  processing: number;
  delayed: number;
}

export type QueueHooks = {
  onAdd?: () => void;
  onRetry?: () => void;
  onDepth?: (stats: QueueStats) => void;
};

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private waiters: Array<() => void> = [];
  private workers: Promise<void>[] = [];
  private shuttingDown = false;
  private readonly base: number;
  private readonly max: number;

  constructor(
    private readonly opts: WorkQueueOptions,
    private readonly hooks: QueueHooks = {},
  ) {
    this.base = opts.baseDelayMs ?? 5;
    this.max = opts.maxDelayMs ?? 300_000;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    this.hooks.onAdd?.();
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.stats();
    this.waiters.shift()?.();
  }

  /** Adds the key after `ms`; an earlier pending schedule for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.timers.set(key, { at, timer });
  }

  /** Retry after a failure, with exponential backoff per key. */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = Math.min(this.max, this.base * 2 ** Math.min(n - 1, 30));
    this.hooks.onRetry?.();
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Forgets a key entirely (the object is gone). */
  drop(key: string): void {
    const t = this.timers.get(key);
    if (t) clearTimeout(t.timer);
    this.timers.delete(key);
    this.failures.delete(key);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Keys waiting or being processed right now (0 = idle, timers aside). */
  get pending(): number {
    return this.queue.length + this.processing.size;
  }

  private stats(): void {
    this.hooks.onDepth?.({
      depth: this.queue.length,
      processing: this.processing.size,
      delayed: this.timers.size,
    });
  }

  private async next(): Promise<string | undefined> {
    while (!this.shuttingDown) {
      const key = this.queue.shift();
      if (key !== undefined) {
        this.queued.delete(key);
        this.processing.add(key);
        this.stats();
        return key;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return undefined;
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
    this.stats();
  }

  /** Runs `work` for keys with `concurrency` workers until shutdown. */
  start(work: (key: string) => Promise<void>): void {
    for (let i = 0; i < this.opts.concurrency; i++) {
      this.workers.push(
        (async () => {
          for (;;) {
            const key = await this.next();
            if (key === undefined) return;
            try {
              await work(key);
            } finally {
              this.done(key);
            }
          }
        })(),
      );
    }
  }

  /** Stops taking keys; resolves when the reconciles in flight have finished. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w();
    await Promise.all(this.workers);
    this.workers = [];
  }
}
