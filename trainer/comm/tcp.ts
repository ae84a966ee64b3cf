/**
 * The TCP data plane: the ring's frames on one plain (or TLS) connection per neighbour pair,
 * next to the gRPC control plane (rendezvous, heartbeats, fault verdicts). `TcpLink` is the
 * link (frames out on the socket the successor opened to us, in on the one we opened to the
 * predecessor); `TcpDataServer` is the listener the successor dials.
 *
 * Why not the gRPC Pull stream: on this kind of machine node:http2 + grpc-js move about
 * 0.5 GB/s each way between two processes and spend a core doing it, so the transport alone
 * took twice as long as gloo's whole all-reduce (docs/collectives.md). A socket that reads
 * straight into reusable, aligned buffers (`onread`) and writes straight from the tensors
 * (a view, no copy) moves the same bytes in a quarter of the CPU time.
 *
 * The successor dials its predecessor and says DataHello (generation, rank, token); the
 * predecessor checks them like a Pull call and answers DataHelloReply; then frames flow
 * predecessor → successor only. The records are in tcp-records.ts.
 */
import net from 'node:net';
import tls from 'node:tls';
import { RingmasterError } from '../../common/errors.js';
import { AuthError, PeerError, StaleGenerationError } from './errors.js';
import { decodeFrame, encodeFrameHeader, type Frame, type FrameHeader } from './frame.js';
import { Inbox } from './inbox.js';
import type { Link } from './ring.js';
import {
  decodeHello,
  decodeReply,
  encodeHello,
  encodeRecord,
  encodeReply,
  MAGIC_FRAME,
  MAGIC_HELLO,
  MAGIC_REPLY,
  ProtocolError,
  RecordReader,
  REFUSE_UNAUTHENTICATED,
  type DataHello,
  type DataHelloReply,
} from './tcp-records.js';
import { Writes } from './writes.js';

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * The data path to the neighbours over TCP: frames go out on the socket the successor
 * opened to us, and come in on the socket we opened to the predecessor.
 */
export class TcpLink implements Link {
  predecessorName = '?';
  readonly inbox: Inbox;
  private out: net.Socket | undefined;
  private reader: RecordReader | undefined;
  private readonly writes: Writes;

  constructor(
    opMs: number,
    private readonly chunkBytes: number,
    onTimeout: (waitedMs: number) => Error,
    onSendTimeout: (waitedMs: number) => Error,
  ) {
    this.inbox = new Inbox(opMs, onTimeout);
    this.writes = new Writes(opMs, () => this.inbox.failure ?? onSendTimeout(opMs));
  }

  /** The socket the successor opened to us (after its hello was accepted). */
  attachOut(sock: net.Socket, onGone: () => Error): void {
    this.out = sock;
    sock.setNoDelay(true);
    const gone = (): void => this.closeOut(onGone());
    sock.on('error', gone);
    sock.on('close', gone);
  }

  send(h: FrameHeader, bytes: number, fill: (dst: Uint8Array) => void, view?: Uint8Array): void {
    const failure = this.inbox.failure ?? this.writes.gone;
    if (failure) throw failure;
    const head = encodeRecord(MAGIC_FRAME, encodeFrameHeader(h), bytes);
    let payload: Uint8Array;
    if (view && view.byteLength === bytes) {
      payload = view;
    } else {
      payload = Buffer.allocUnsafe(bytes);
      if (bytes > 0) fill(payload);
    }
    const sock = this.out!;
    // No wait for 'drain' (it could deadlock the ring); flush() bounds the time instead.
    sock.cork();
    const onDone = this.writes.track();
    if (payload.byteLength > 0) {
      sock.write(head);
      sock.write(payload, onDone);
    } else {
      sock.write(head, onDone);
    }
    sock.uncork();
  }

  recv(): Promise<Frame> {
    return this.inbox.recv();
  }

  release(f: Frame): void {
    this.reader?.release(f.data);
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  /** The successor's socket is gone: no pending flush can complete. */
  closeOut(err: Error): void {
    this.writes.close(err);
  }

  /**
   * Ends the outbound stream and waits (at most `ms`) until what is queued has been handed
   * to the kernel, which still delivers it after the socket is closed.
   */
  finishOut(ms: number): Promise<void> {
    const out = this.out;
    if (!out || out.destroyed || out.writableFinished) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      out.once('finish', done);
      out.once('close', done);
      out.end();
    });
  }

  destroy(): void {
    this.out?.destroy();
    this.inSock?.destroy();
  }

  /** Unrefs both sockets so a stopped peer cannot keep this process alive. */
  unref(): void {
    this.out?.unref();
    this.inSock?.unref();
  }

  private inSock: net.Socket | undefined;
  /** Destinations the ring announced for frames not yet received, by op/step/index. */
  private readonly expected = new Map<string, Uint8Array>();
  /** The header of the record being received (decoded once, in pick). */
  private current: Frame | undefined;

  expect(op: number, step: number, index: number, dst: Uint8Array): void {
    this.expected.set(`${op}/${step}/${index}`, dst);
  }

  private pickDestination(
    magic: number,
    header: Uint8Array,
    bytes: number,
  ): Uint8Array | undefined {
    if (magic !== MAGIC_FRAME) return undefined;
    const f = decodeFrame(header);
    this.current = f;
    const key = `${f.op}/${f.step}/${f.index}`;
    const dst = this.expected.get(key);
    if (!dst) return undefined;
    this.expected.delete(key);
    // A size mismatch is the ring's to report; the frame then goes to the pool.
    return dst.byteLength === bytes ? dst : undefined;
  }

  /**
   * Dials the predecessor's data address, says hello, and waits for its answer. Rejects with
   * the predecessor's refusal (AuthError, StaleGenerationError…), or with a connection error
   * that the caller may retry.
   */
  async connectIn(
    address: string,
    hello: DataHello,
    tlsOpts: TlsMaterial | undefined,
    peerRank: number,
    timeoutMs: number,
  ): Promise<void> {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    const port = Number(address.slice(i + 1));
    let replied!: (r: DataHelloReply) => void;
    const reply = new Promise<DataHelloReply>((r) => (replied = r));
    let helloDone = false;
    const reader = new RecordReader(
      this.chunkBytes,
      (r) => {
        if (!helloDone) {
          if (r.magic !== MAGIC_REPLY)
            throw new ProtocolError('data stream: expected a hello reply');
          helloDone = true;
          replied(decodeReply(r.header));
          return;
        }
        if (r.magic !== MAGIC_FRAME) throw new ProtocolError('data stream: expected a frame');
        const f = this.current ?? decodeFrame(r.header);
        this.current = undefined;
        f.data = r.data;
        this.inbox.push(f);
      },
      (magic, header, bytes) =>
        helloDone ? this.pickDestination(magic, header, bytes) : undefined,
    );
    const onReaderError = (sock: net.Socket, e: unknown): void => {
      const err = new PeerError(
        `${this.predecessorName} sent a malformed data stream: ${(e as Error).message}`,
        peerRank,
        address,
      );
      this.inbox.abort(err);
      sock.destroy();
    };
    const sock: net.Socket = await new Promise<net.Socket>((resolve, reject) => {
      let s: net.Socket;
      const fail = (e: Error): void => {
        clearTimeout(timer);
        s.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () => fail(new Error(`timed out connecting to ${address}`)),
        Math.max(1, timeoutMs),
      );
      const connected = (): void => {
        clearTimeout(timer);
        s.removeListener('error', fail);
        resolve(s);
      };
      if (tlsOpts) {
        s = tls.connect({
          host,
          port,
          ca: tlsOpts.ca,
          cert: tlsOpts.cert,
          key: tlsOpts.key,
          // Ranks are named by address, not DNS name: trust the job CA, as gRPC does here.
          checkServerIdentity: () => undefined,
        });
        s.once('secureConnect', connected);
        s.on('data', (c: Buffer) => {
          try {
            reader.feed(c);
          } catch (e) {
            onReaderError(s, e);
          }
        });
      } else {
        s = net.connect({
          host,
          port,
          onread: {
            buffer: () => reader.target(),
            callback: (n: number) => {
              try {
                reader.advance(n);
              } catch (e) {
                onReaderError(s, e);
                return false;
              }
              return true;
            },
          },
        });
        s.once('connect', connected);
      }
      s.once('error', fail);
    });
    this.inSock = sock;
    this.reader = reader;
    sock.setNoDelay(true);
    sock.on('error', () => undefined);
    sock.write(encodeHello(hello));
    const timeout = new Promise<'timeout'>((r) => {
      const t = setTimeout(() => r('timeout'), Math.max(1, timeoutMs));
      void reply.then(() => clearTimeout(t));
    });
    const closed = new Promise<'closed'>((r) => sock.once('close', () => r('closed')));
    const r = await Promise.race([reply, timeout, closed]);
    if (r === 'timeout' || r === 'closed') {
      sock.destroy();
      throw new Error(`${this.predecessorName} did not answer the data-plane hello (${r})`);
    }
    if (!r.ok) {
      sock.destroy();
      const msg = `${this.predecessorName} refused the data connection: ${r.message}`;
      if (r.code === REFUSE_UNAUTHENTICATED) throw new AuthError(msg);
      if (/stale generation/.test(r.message)) throw new StaleGenerationError(msg);
      throw new RingmasterError(msg);
    }
    const lost = (why: string): void =>
      this.inbox.end(
        new PeerError(
          `lost the ring stream from ${this.predecessorName}: ${why}`,
          peerRank,
          address,
        ),
      );
    sock.on('error', (e: Error) => lost(e.message));
    sock.on('close', () => lost('connection closed'));
  }
}

/**
 * The listening side: accepts connections, reads their hello and hands accepted sockets to
 * `check` (which answers refusals itself by returning a reply with ok false).
 */
export class TcpDataServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    tlsOpts: TlsMaterial | undefined,
    private readonly check: (h: DataHello) => DataHelloReply,
    private readonly accepted: (sock: net.Socket, hello: DataHello) => void,
    private readonly onWarn: (msg: string) => void,
  ) {
    const onConn = (sock: net.Socket): void => this.onConnection(sock);
    this.server = tlsOpts
      ? tls.createServer(
          {
            ca: tlsOpts.ca,
            cert: tlsOpts.cert,
            key: tlsOpts.key,
            requestCert: true,
            rejectUnauthorized: true,
          },
          onConn,
        )
      : net.createServer(onConn);
    // A client that fails the TLS handshake never reaches onConnection.
    this.server.on('tlsClientError', (e: Error) =>
      this.onWarn(`data-plane TLS handshake failed: ${e.message}`),
    );
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  private onConnection(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    let decided = false;
    const reader = new RecordReader(0, (r) => {
      if (decided) return; // nothing else is expected from a successor
      decided = true;
      if (r.magic !== MAGIC_HELLO) throw new ProtocolError('expected a hello');
      const hello = decodeHello(r.header);
      const verdict = this.check(hello);
      sock.write(encodeReply(verdict));
      if (!verdict.ok) {
        this.onWarn(`refused a data connection from ${sock.remoteAddress}: ${verdict.message}`);
        sock.end();
        return;
      }
      this.accepted(sock, hello);
    });
    sock.on('data', (c: Buffer) => {
      if (decided) return;
      try {
        reader.feed(c);
      } catch (e) {
        this.onWarn(`dropped a data connection: ${(e as Error).message}`);
        sock.destroy();
      }
    });
  }

  /** Stops listening and drops every connection that is still open. */
  close(): void {
    this.server.close();
    for (const s of this.sockets) {
      s.unref();
      s.destroy();
    }
  }
}
