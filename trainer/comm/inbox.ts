/**
 * The receive side of a link: frames queue here as the transport delivers them, and the
 * ring takes them one at a time. Every wait has a deadline; a failure wakes the waiter.
 */
import type { Frame } from './frame.js';

export class Inbox {
  private readonly queue: Frame[] = [];
  private waiter:
    { resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  /** Fails waits only once the queue is drained (the sender finished normally). */
  private ended: Error | undefined;
  /** Fails everything at once (a fault anywhere in the group). */
  private aborted: Error | undefined;

  constructor(
    private readonly waitMs: number,
    private readonly onTimeout: (waitedMs: number) => Error,
  ) {}

  push(f: Frame): void {
    if (this.aborted) return;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      clearTimeout(w.timer);
      w.resolve(f);
    } else {
      this.queue.push(f);
    }
  }

  /** The sender ended its stream: frames already here can still be used. */
  end(err: Error): void {
    this.ended ??= err;
    if (this.queue.length === 0) this.wake(err);
  }

  /** The group is broken: no frame is taken any more. */
  abort(err: Error): void {
    this.aborted ??= err;
    this.queue.length = 0;
    this.wake(err);
  }

  get failure(): Error | undefined {
    return this.aborted;
  }

  recv(): Promise<Frame> {
    if (this.aborted) return Promise.reject(this.aborted);
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    if (this.ended) return Promise.reject(this.ended);
    if (this.waiter) return Promise.reject(new Error('Inbox.recv: concurrent receive'));
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(this.onTimeout(this.waitMs));
      }, this.waitMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  private wake(err: Error): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
