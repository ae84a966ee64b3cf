/** Waiting with a deadline: a promise bounded in time, and the pause between attempts to reach a peer. */

/** `p`, or the error `onTimeout` makes once `deadlineAt` (epoch ms) has passed. */
export function withDeadline<T>(
  p: Promise<T>,
  deadlineAt: number,
  onTimeout: () => Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadlineAt - Date.now()));
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Pauses between connection attempts: 50 ms, doubling up to 1 s, never past the deadline. */
export class Backoff {
  private ms = 50;

  constructor(private readonly deadlineAt: number) {}

  async pause(): Promise<void> {
    const wait = Math.min(this.ms, Math.max(0, this.deadlineAt - Date.now()));
    await new Promise((r) => setTimeout(r, wait));
    this.ms = Math.min(this.ms * 2, 1000);
  }
}
