/**
 * The writes a link has handed to its transport. A collective ends with flush(), which waits
 * (at most the deadline) until the transport has taken every one of them: a link may read a
 * payload after send() returned (lazily, or from a view of the caller's arrays), and the
 * caller is free to change its arrays once the collective is over.
 */
export class Writes {
  private written = 0;
  private done = 0;
  private pending:
    { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  /** Set once the outbound stream is gone; later sends and flushes fail with it. */
  gone: Error | undefined;

  constructor(
    private readonly deadlineMs: number,
    /** The error a flush that runs out of time rejects with. */
    private readonly onTimeout: () => Error,
  ) {}

  /** Counts one write; the returned function is its completion callback. */
  track(): () => void {
    this.written++;
    return () => {
      this.done++;
      if (this.done === this.written) this.settle();
    };
  }

  flush(): Promise<void> {
    if (this.done === this.written) return Promise.resolve();
    if (this.gone) return Promise.reject(this.gone);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(this.onTimeout()), this.deadlineMs);
      this.pending = { resolve, reject, timer };
    });
  }

  /** The outbound stream is gone: no pending flush can complete. */
  close(err: Error): void {
    this.gone ??= err;
    this.settle(err);
  }

  private settle(err?: Error): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve();
  }
}
