/** Retries with exponential backoff and jitter, and a counting semaphore. */

export interface RetryPolicy {
  retries: number;
  baseMs: number;
  capMs: number;
}

/**
 * Runs `fn` until it succeeds, `isRetryable(err)` says no, or the retries are used up (then
 * the last error is thrown). Delay before retry k (0-based): min(cap, base·2^k) scaled by a
 * factor in [0.5, 1). Jitter uses Math.random on purpose: it only shifts timing, and it must
 * differ between processes so that ranks hitting the same outage do not retry in lockstep.
 */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  isRetryable: (err: unknown) => boolean,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.retries || !isRetryable(err)) throw err;
      const delay =
        Math.min(policy.capMs, policy.baseMs * 2 ** attempt) * (0.5 + 0.5 * Math.random());
      onRetry?.(err, attempt, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** At most `limit` holders at once; waiters are served first come, first served. */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`Semaphore limit must be >= 1, got ${limit}`);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiters.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    }
  }
}
