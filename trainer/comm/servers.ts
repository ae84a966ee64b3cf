/**
 * What one rank serves: a gRPC server (the control plane — Rendezvous at rank 0, and the
 * Collective.Pull stream of the gRPC link) and, with the TCP link, the data-plane listener
 * that the successor dials. Both use the group's TLS material when it has any. Each knows
 * the address others reach it by; closing is bounded in time even when a peer is stopped.
 */
import type { Http2Session } from 'node:http2';
import type net from 'node:net';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { RingmasterError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { splitHostPort, type GroupSettings } from './options.js';
import {
  collectiveService,
  rendezvousService,
  SERVER_OPTIONS,
  type OutFrame,
  type PullRequest,
} from './proto.js';
import { type DataHello, type DataHelloReply } from './tcp-records.js';
import { TcpDataServer } from './tcp.js';

const WILDCARD = new Set(['0.0.0.0', '::', '[::]', '']);

export class GroupServers {
  private readonly server = new grpc.Server(SERVER_OPTIONS);
  private dataServer: TcpDataServer | undefined;
  /** The control-plane address others dial (known once `listen` has bound). */
  address = '?';

  constructor(
    private readonly o: GroupSettings,
    private readonly log: Logger,
  ) {}

  /** Serves Collective.Pull (its calls go to `onPull`), and Rendezvous when given. */
  addServices(
    onPull: (call: grpc.ServerWritableStream<PullRequest, OutFrame>) => void,
    rendezvous: grpc.UntypedServiceImplementation | undefined,
  ): void {
    this.server.addService(collectiveService, { Pull: onPull });
    if (rendezvous) this.server.addService(rendezvousService, rendezvous);
  }

  /** Binds the gRPC server; resolves with the address others dial. */
  async listen(): Promise<string> {
    const o = this.o;
    const t = o.tls;
    const creds = t
      ? grpc.ServerCredentials.createSsl(t.ca, [{ cert_chain: t.cert, private_key: t.key }], true)
      : grpc.ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(o.listen, creds, (err, p) =>
        err
          ? reject(
              new RingmasterError(`cannot serve collectives at ${o.listen}: ${err.message}`, {
                cause: err,
              }),
            )
          : resolve(p),
      ),
    );
    const [host] = splitHostPort(o.listen);
    this.address = o.advertise ?? `${WILDCARD.has(host) ? hostname() : host}:${port}`;
    this.log.debug({ listen: o.listen, port, address: this.address }, 'serving collectives');
    return this.address;
  }

  /**
   * Serves the TCP data plane: `check` answers each caller's hello, `accept` takes the
   * sockets it admitted. Resolves with the data address others dial (the advertised host).
   */
  async listenData(
    check: (h: DataHello) => DataHelloReply,
    accept: (sock: net.Socket, hello: DataHello) => void,
  ): Promise<string> {
    const o = this.o;
    const [bracketed, want] = splitHostPort(o.dataListen);
    const host = bracketed.replace(/^\[(.*)\]$/, '$1'); // "[::]" → "::" for net.listen
    const server = new TcpDataServer(o.tls, check, accept, (msg) => this.log.warn(msg));
    this.dataServer = server;
    const port = await server.listen(host, want).catch((e: Error) => {
      throw new RingmasterError(
        `cannot serve the data plane at ${o.dataListen}: ${e.message}` +
          (want !== 0 ? ' (it takes the port after the listen port; set dataListen)' : ''),
        { cause: e },
      );
    });
    const [advHost] = splitHostPort(this.address);
    const dataAddress = `${advHost}:${port}`;
    this.log.debug({ dataListen: o.dataListen, dataAddress }, 'serving data');
    return dataAddress;
  }

  /**
   * Stops serving. Normally gRPC calls in flight get up to `graceMs` to finish; `forced`
   * (after a failure) drops them at once.
   */
  async close(forced: boolean, graceMs: number): Promise<void> {
    this.dataServer?.close();
    if (forced) {
      shutdownNow(this.server);
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.debug('closing: grace over, forcing shutdown');
        shutdownNow(this.server);
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * forceShutdown() destroys the HTTP/2 sessions, but a session's socket then waits for the
 * peer's FIN; a stopped (SIGSTOP, frozen VM) peer never sends it and the socket would keep
 * this process alive. grpc-js exposes no handle on its sessions, hence the private field,
 * guarded: unref'ing them lets the process exit.
 */
function shutdownNow(server: grpc.Server): void {
  const sessions = (server as unknown as { sessions?: unknown }).sessions;
  const list = sessions instanceof Map ? [...(sessions.keys() as Iterable<Http2Session>)] : [];
  for (const s of list) {
    try {
      s.unref();
    } catch {
      // already gone
    }
  }
  server.forceShutdown();
}
