/**
 * A fixed pool of transform worker threads fed first come, first served. With size 0 the
 * tasks run on the calling thread (tests, debugging, one-core machines).
 */
import { Worker } from 'node:worker_threads';
import { RingmasterError } from '../../common/errors.js';
import { buildTransform, type TransformSpec } from './transform-spec.js';
import { runTransformTask, type TransformResult, type TransformTask } from './transform-task.js';
import type { ImageTransform } from './transforms/presets.js';

interface Pending {
  id: number;
  task: TransformTask;
  resolve: (r: TransformResult) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | undefined;
  /** Settles when the current task does (resolved either way). */
  idle: Promise<void>;
  exited: Promise<void>;
}

export class TransformPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private inline: Promise<ImageTransform> | undefined;
  private closed = false;
  private failure: unknown;

  private constructor() {}

  static async create(spec: TransformSpec, size: number): Promise<TransformPool> {
    const pool = new TransformPool();
    if (size === 0) {
      pool.inline = buildTransform(spec);
      await pool.inline;
      return pool;
    }
    // libvips must stay loaded in the main thread: when the last worker that loaded it exits,
    // glibc would unload it under threads still using it (sharp's documented advice).
    await import('sharp');
    const entry = new URL('./loader-worker.ts', import.meta.url).href;
    await Promise.all(
      Array.from({ length: size }, async () => {
        const worker = new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), {
          workerData: { entry, spec },
        });
        await new Promise<void>((resolve, reject) => {
          const onMsg = (m: { ready?: boolean }) => {
            if (m.ready) {
              worker.off('error', reject);
              resolve();
            }
          };
          worker.once('message', onMsg);
          worker.once('error', reject);
        });
        const slot: Slot = {
          worker,
          busy: undefined,
          idle: Promise.resolve(),
          exited: new Promise<void>((resolve) => worker.once('exit', () => resolve())),
        };
        worker.on('message', (m: { id: number; res: TransformResult }) => {
          const p = slot.busy;
          slot.busy = undefined;
          p?.resolve(m.res);
          pool.pump();
        });
        worker.on('error', (err) => pool.fail(err));
        worker.on('exit', (code) => {
          if (!pool.closed)
            pool.fail(new RingmasterError(`transform worker exited with code ${code}`));
        });
        pool.slots.push(slot);
      }),
    ).catch(async (err) => {
      await pool.close();
      throw new RingmasterError(`cannot start transform workers: ${(err as Error).message}`, {
        cause: err,
      });
    });
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  run(task: TransformTask): Promise<TransformResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new RingmasterError('transform pool closed'));
    if (this.inline) return this.inline.then((t) => runTransformTask(t, task));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.busy || this.queue.length === 0) continue;
      const p = this.queue.shift()!;
      slot.busy = p;
      slot.idle = new Promise<void>((resolve) => {
        const { resolve: res, reject: rej } = p;
        p.resolve = (r) => {
          resolve();
          res(r);
        };
        p.reject = (e) => {
          resolve();
          rej(e);
        };
      });
      // The encoded images move to the worker (transfer, no copy).
      slot.worker.postMessage(
        { id: p.id, task: p.task },
        p.task.images.map((b) => b.buffer as ArrayBuffer),
      );
    }
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err;
    for (const s of this.slots) s.busy?.reject(err);
    for (const p of this.queue.splice(0)) p.reject(err);
  }

  /**
   * Drops queued tasks, lets running ones finish, then asks each worker to leave; a worker that
   * does not leave within 10 s is terminated.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new RingmasterError('transform pool closed'));
    await Promise.all(
      this.slots.map(async (s) => {
        await s.idle;
        const exited = s.exited;
        s.worker.postMessage({ close: true });
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), 10_000);
        });
        if ((await Promise.race([exited, timeout])) === 'timeout') await s.worker.terminate();
        clearTimeout(timer);
      }),
    );
    this.slots.length = 0;
  }
}
