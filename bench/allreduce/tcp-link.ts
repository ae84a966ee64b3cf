/**
 * The ceiling for the benchmark: the bytes a ring all-reduce moves, and nothing else. Each
 * rank streams 2(N−1)/N·S bytes to its successor while it reads as many from its
 * predecessor, over plain TCP between the same processes, the way Node moves bytes fastest
 * (writes from one preallocated buffer, reads into one reused buffer with `onread`): no
 * framing, no additions, no copies into tensors. No all-reduce over TCP in Node can beat it.
 */
import net from 'node:net';

export interface Ceiling {
  /** Moves the bytes of a ring all-reduce of `bytes` bytes; resolves when all arrived. */
  move(bytes: number): Promise<void>;
  close(): void;
}

const CHUNK = 1 << 20;

/** Listens on `port` (for the successor) and dials the predecessor at `predecessorPort`. */
export async function ceilingRing(
  N: number,
  port: number,
  predecessorPort: number,
): Promise<Ceiling> {
  const server = net.createServer();
  const outbound = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const readBuf = Buffer.allocUnsafe(4 * CHUNK);
  const sendBuf = Buffer.alloc(CHUNK, 1);
  let want = 0;
  let got = 0;
  let arrived: (() => void) | undefined;
  let inbound: net.Socket | undefined;
  for (;;) {
    try {
      inbound = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({
          port: predecessorPort,
          host: '127.0.0.1',
          onread: {
            buffer: readBuf,
            callback: (n: number) => {
              got += n;
              if (got >= want && arrived) {
                const a = arrived;
                arrived = undefined;
                a();
              }
              return true;
            },
          },
        });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  inbound.setNoDelay(true);
  const out = await outbound;
  out.setNoDelay(true);
  return {
    async move(bytes: number): Promise<void> {
      const total = Math.floor((2 * (N - 1) * bytes) / N);
      want += total;
      const done = new Promise<void>((resolve) => {
        if (got >= want) resolve();
        else arrived = resolve;
      });
      for (let sent = 0; sent < total; sent += CHUNK) {
        const n = Math.min(CHUNK, total - sent);
        if (!out.write(n === CHUNK ? sendBuf : sendBuf.subarray(0, n))) {
          await new Promise((r) => out.once('drain', r));
        }
      }
      await done;
    },
    close(): void {
      out.destroy();
      inbound.destroy();
      server.close();
    },
  };
}
