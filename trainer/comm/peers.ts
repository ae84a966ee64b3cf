/**
 * Who is where in the ring, seen from one rank: its two neighbours, every rank's address once
 * the group has formed, and the PeerErrors that name a neighbour by rank and address, so a log
 * line points at the right pod.
 */
import { PeerError } from './errors.js';

export class Peers {
  /** Every rank's control-plane address, by rank; set when the group forms. */
  addresses: string[] = [];

  constructor(
    readonly rank: number,
    readonly worldSize: number,
  ) {}

  /** The rank whose frames this one receives. */
  predecessor(): number {
    return (this.rank - 1 + this.worldSize) % this.worldSize;
  }

  /** The rank this one sends its frames to. */
  successor(): number {
    return (this.rank + 1) % this.worldSize;
  }

  addressOf(rank: number): string {
    return this.addresses[rank] ?? '?';
  }

  /** "rank 3 (host:port)", for messages. */
  name(rank: number): string {
    return `rank ${rank} (${this.addressOf(rank)})`;
  }

  /** Nothing arrived from the predecessor for `waitedMs`. */
  silentPredecessor(waitedMs: number, opMs: number): PeerError {
    const p = this.predecessor();
    return new PeerError(
      `no data from ${this.name(p)} for ${(waitedMs / 1000).toFixed(1)} s ` +
        `(peer stalled or dead; deadline opMs=${opMs})`,
      p,
      this.addressOf(p),
    );
  }

  /** The successor took none of our frames for `waitedMs`. */
  stuckSuccessor(waitedMs: number, opMs: number): PeerError {
    const s = this.successor();
    return new PeerError(
      `${this.name(s)} took no data for ${(waitedMs / 1000).toFixed(1)} s ` +
        `(peer stalled or dead; deadline opMs=${opMs})`,
      s,
      this.addressOf(s),
    );
  }

  /** The successor's stream to us closed. */
  successorGone(): PeerError {
    const s = this.successor();
    return new PeerError(
      `${this.name(s)} disconnected from this rank's ring stream`,
      s,
      this.addressOf(s),
    );
  }
}
