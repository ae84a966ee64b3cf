/**
 * The ceiling for the benchmark: the same ring code (trainer/comm/ring.ts) over plain TCP
 * sockets between the same processes, frames length-prefixed, no HTTP/2 and no gRPC.
 */
import net from 'node:net';
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  type FrameHeader,
} from '../../trainer/comm/frame.js';
import { Inbox } from '../../trainer/comm/inbox.js';
import type { Link } from '../../trainer/comm/ring.js';

export class TcpLink implements Link {
  readonly inbox: Inbox;
  private out: net.Socket | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private need = -1;

  constructor(
    readonly predecessorName: string,
    waitMs: number,
  ) {
    this.inbox = new Inbox(waitMs, () => new Error(`tcp: no data from ${predecessorName}`));
  }

  send(h: FrameHeader, bytes: number, fill: (dst: Uint8Array) => void): void {
    // The receiver assembles each frame into a buffer of its own (offset 0), so align to 0.
    const buf = encodeFrame(h, bytes, fill, 4, 0);
    buf.writeUInt32LE(buf.length - 4, 0);
    this.out!.write(buf);
  }

  recv(): Promise<Frame> {
    return this.inbox.recv();
  }

  private onData(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.pendingBytes < 4) return;
        const head = this.take(4);
        this.need = head.readUInt32LE(0);
      }
      if (this.pendingBytes < this.need) return;
      const body = this.take(this.need);
      this.need = -1;
      this.inbox.push(decodeFrame(body));
    }
  }

  /** Takes n bytes off the front: a view when one chunk holds them, else one copy. */
  private take(n: number): Buffer {
    const first = this.pending[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafeSlow(n);
      let at = 0;
      while (at < n) {
        const c = this.pending[0]!;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.pending.shift();
        else this.pending[0] = c.subarray(k);
      }
    }
    this.pendingBytes -= n;
    return out;
  }

  /** Listens on `port`, connects to the successor's port, accepts the predecessor. */
  static async ring(
    port: number,
    successorPort: number,
    waitMs: number,
  ): Promise<{ link: TcpLink; close: () => void }> {
    const link = new TcpLink(`tcp peer :${successorPort}`, waitMs);
    const server = net.createServer();
    const inbound = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    for (;;) {
      try {
        link.out = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(successorPort, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    link.out.setNoDelay(true);
    const sock = await inbound;
    sock.setNoDelay(true);
    sock.on('data', (c: Buffer) => link.onData(c));
    return {
      link,
      close: () => {
        link.out?.destroy();
        sock.destroy();
        server.close();
      },
    };
  }
}
