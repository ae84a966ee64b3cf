/**
 * The ring algorithms, independent of the transport: each rank sends only to its successor
 * and receives only from its predecessor, over one ordered stream of frames (a `Link`).
 * Because every rank sends in a fixed order, the receiver knows exactly which frame must
 * come next and checks it, so ranks that call different collectives fail loudly.
 *
 * All-reduce = reduce-scatter then all-gather, N−1 steps each, on chunks: a chunk received
 * at step k is added and forwarded at step k+1 at once, so sending, receiving and adding
 * overlap (the pipeline is as deep as the number of chunks in a segment). Segment s is
 * summed in ring order starting at rank s — ((x_s + x_{s+1}) + x_{s+2}) + … — by the rank
 * that ends up owning it, and the all-gather hands the owner's bytes to everyone: results
 * are identical on every rank and bit-identical from run to run.
 */
import { RingmasterError } from '../../common/errors.js';
import { Flat } from './flat.js';
import { float32View, Kind, type Frame, type FrameHeader } from './frame.js';

export interface Link {
  /**
   * Queues a frame for the successor. The payload is either copied by `fill` before send
   * returns, or — when `view` is given and the link can use it — read from `view` later, up
   * to flush(): the ring only passes views of memory it does not change before the
   * successor has received them (see ringAllReduce).
   */
  send(h: FrameHeader, bytes: number, fill: (dst: Uint8Array) => void, view?: Uint8Array): void;
  /** The next frame from the predecessor; rejects when the wait deadline passes or the link fails. */
  recv(): Promise<Frame>;
  /**
   * Resolves once every frame sent so far has been handed to the transport. A collective
   * calls it before it returns, because a link may read the payload lazily (at the time it
   * serializes the frame) and the caller is free to overwrite its arrays afterwards.
   */
  flush?(): Promise<void>;
  /** The ring is done with a received frame (its buffer may be reused). */
  release?(f: Frame): void;
  /**
   * Announces where the payload of a frame still to come belongs, so a link that can may
   * receive it there directly (the frame's `data` is then that very view).
   */
  expect?(op: number, step: number, index: number, dst: Uint8Array): void;
  /** "rank 3 (host:port)", for messages. */
  readonly predecessorName: string;
}

export interface RingContext {
  rank: number;
  worldSize: number;
  generation: number;
  chunkBytes: number;
}

/** The ranks disagree about the sequence of collectives (a bug in the caller, not a fault). */
export class CollectiveMismatchError extends RingmasterError {}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

function expectFrame(
  link: Link,
  f: Frame,
  want: { generation: number; op: number; kind: Kind; count?: number; step: number; index: number },
): void {
  if (
    f.generation !== want.generation ||
    f.op !== want.op ||
    f.kind !== want.kind ||
    (want.count !== undefined && f.count !== want.count) ||
    f.step !== want.step ||
    f.index !== want.index
  ) {
    const got = `generation ${f.generation} op #${f.op} kind ${f.kind} count ${f.count} step ${f.step} chunk ${f.index}`;
    const exp = `generation ${want.generation} op #${want.op} kind ${want.kind} count ${want.count ?? '*'} step ${want.step} chunk ${want.index}`;
    throw new CollectiveMismatchError(
      `collective mismatch with ${link.predecessorName}: expected ${exp}, received ${got} ` +
        `(all ranks must call the same collectives, in the same order, on the same sizes)`,
    );
  }
}

function expectBytes(link: Link, f: Frame, bytes: number): void {
  if (f.data.byteLength !== bytes) {
    throw new CollectiveMismatchError(
      `collective mismatch with ${link.predecessorName}: chunk ${f.index} of step ${f.step} has ` +
        `${f.data.byteLength} bytes, expected ${bytes}`,
    );
  }
}

/**
 * In-place ring all-reduce of elements [base, base + len) of `flat`. `count` is the total
 * element count of the whole collective (checked on every frame).
 */
export async function ringAllReduce(
  link: Link,
  ctx: RingContext,
  op: number,
  flat: Flat,
  base: number,
  len: number,
  count: number,
  mean: boolean,
): Promise<void> {
  const N = ctx.worldSize;
  const r = ctx.rank;
  const kind = mean ? Kind.allReduceMean : Kind.allReduceSum;
  const chunkElems = Math.max(1, Math.floor(ctx.chunkBytes / 4));
  const segStart = (s: number): number => base + Math.floor((s * len) / N);
  const nChunks = (s: number): number => Math.ceil((segStart(s + 1) - segStart(s)) / chunkElems);
  const chunkRange = (s: number, c: number): [number, number] => {
    const a = segStart(s) + c * chunkElems;
    return [a, Math.min(segStart(s + 1), a + chunkElems)];
  };
  const header = (step: number, index: number): FrameHeader => ({
    generation: ctx.generation,
    op,
    kind,
    count,
    step,
    index,
  });
  const send = (step: number, s: number, c: number): void => {
    const [a, b] = chunkRange(s, c);
    link.send(
      header(step, c),
      (b - a) * 4,
      (dst) => flat.gatherBytes(a, b - a, dst),
      flat.viewBytes(a, b - a),
    );
  };
  const scratch = { buf: new Float32Array(0) };
  // The all-gather's frames can land where they belong: announce that before any await.
  const landed = (f: Frame, a: number, b: number, dst: Uint8Array | undefined): boolean =>
    dst !== undefined &&
    f.data.buffer === dst.buffer &&
    f.data.byteOffset === dst.byteOffset &&
    f.data.byteLength === (b - a) * 4;
  const gatherDst: (Uint8Array | undefined)[][] = [];
  for (let k = 0; link.expect && k <= N - 2; k++) {
    const s = mod(r - k, N);
    const row: (Uint8Array | undefined)[] = [];
    for (let c = 0; c < nChunks(s); c++) {
      const [a, b] = chunkRange(s, c);
      const v = flat.viewBytes(a, b - a);
      if (v) link.expect(op, N - 1 + k, c, v);
      row.push(v);
    }
    gatherDst.push(row);
  }

  // Zero-copy sends are safe here: a chunk's elements change again only when its final value
  // arrives (all-gather), and that value was computed from what we sent, so by then the
  // successor has received those bytes. Reduce-scatter. Step 0: my own segment r, as it is.
  for (let c = 0; c < nChunks(r); c++) send(0, r, c);
  for (let k = 0; k <= N - 2; k++) {
    const s = mod(r - 1 - k, N);
    for (let c = 0; c < nChunks(s); c++) {
      const f = await link.recv();
      expectFrame(link, f, { ...header(k, c) });
      const [a, b] = chunkRange(s, c);
      expectBytes(link, f, (b - a) * 4);
      flat.add(a, float32View(f.data, scratch));
      link.release?.(f);
      if (k < N - 2) {
        send(k + 1, s, c);
      } else {
        // Segment s = r + 1 is now complete here: finish it and start its all-gather.
        if (mean) flat.divide(a, b - a, N);
        send(N - 1, s, c);
      }
    }
  }
  // All-gather: receive the owners' finished segments and pass them on.
  for (let k = 0; k <= N - 2; k++) {
    const s = mod(r - k, N);
    const step = N - 1 + k;
    for (let c = 0; c < nChunks(s); c++) {
      const f = await link.recv();
      expectFrame(link, f, header(step, c));
      const [a, b] = chunkRange(s, c);
      expectBytes(link, f, (b - a) * 4);
      if (!landed(f, a, b, gatherDst[k]?.[c])) {
        flat.copy(a, float32View(f.data, scratch));
        link.release?.(f);
      }
      if (k < N - 2) send(step + 1, s, c);
    }
  }
  await link.flush?.();
}

/** Pipelined broadcast along the ring from `root`: everyone forwards chunks as they arrive. */
export async function ringBroadcast(
  link: Link,
  ctx: RingContext,
  op: number,
  flat: Flat,
  root: number,
): Promise<void> {
  const N = ctx.worldSize;
  const chunkElems = Math.max(1, Math.floor(ctx.chunkBytes / 4));
  const n = Math.ceil(flat.length / chunkElems);
  const header = (index: number): FrameHeader => ({
    generation: ctx.generation,
    op,
    kind: Kind.broadcast,
    count: flat.length,
    step: 0,
    index,
  });
  const range = (c: number): [number, number] => [
    c * chunkElems,
    Math.min(flat.length, (c + 1) * chunkElems),
  ];
  const send = (c: number): void => {
    const [a, b] = range(c);
    link.send(
      header(c),
      (b - a) * 4,
      (dst) => flat.gatherBytes(a, b - a, dst),
      flat.viewBytes(a, b - a),
    );
  };
  if (ctx.rank === root) {
    for (let c = 0; c < n; c++) send(c);
    await link.flush?.();
    return;
  }
  const forward = mod(ctx.rank + 1, N) !== root;
  const scratch = { buf: new Float32Array(0) };
  for (let c = 0; c < n; c++) {
    const f = await link.recv();
    expectFrame(link, f, header(c));
    const [a, b] = range(c);
    expectBytes(link, f, (b - a) * 4);
    flat.copy(a, float32View(f.data, scratch));
    link.release?.(f);
    if (forward) send(c);
  }
  await link.flush?.();
}

/**
 * Ring all-gather of one byte string per rank (sizes may differ; the first frame of each
 * piece carries its length). Returns the pieces indexed by rank; pieces[rank] is a copy of
 * `mine`. Buffers are freshly allocated, so Float32Array views of them are aligned.
 */
export async function ringAllGather(
  link: Link,
  ctx: RingContext,
  op: number,
  mine: Uint8Array,
  kind: Kind,
): Promise<Uint8Array[]> {
  const N = ctx.worldSize;
  const r = ctx.rank;
  const chunk = Math.max(4, ctx.chunkBytes - (ctx.chunkBytes % 4));
  const pieces: Uint8Array[] = new Array<Uint8Array>(N);
  pieces[r] = new Uint8Array(new ArrayBuffer(mine.byteLength));
  pieces[r].set(mine);
  const chunksOf = (bytes: number): number => Math.max(1, Math.ceil(bytes / chunk));
  const header = (step: number, index: number, count: number): FrameHeader => ({
    generation: ctx.generation,
    op,
    kind,
    count,
    step,
    index,
  });
  const own = pieces[r];
  for (let c = 0; c < chunksOf(own.byteLength); c++) {
    const part = own.subarray(c * chunk, Math.min(own.byteLength, (c + 1) * chunk));
    link.send(header(0, c, own.byteLength), part.byteLength, (dst) => dst.set(part), part);
  }
  for (let k = 0; k <= N - 2; k++) {
    const src = mod(r - 1 - k, N);
    let piece: Uint8Array | undefined;
    let total = 1;
    for (let c = 0; c < total; c++) {
      const f = await link.recv();
      expectFrame(link, f, {
        generation: ctx.generation,
        op,
        kind,
        step: k,
        index: c,
        ...(piece ? { count: piece.byteLength } : {}),
      });
      if (!piece) {
        piece = new Uint8Array(new ArrayBuffer(f.count));
        total = chunksOf(f.count);
      }
      expectBytes(link, f, Math.min(piece.byteLength, (c + 1) * chunk) - c * chunk);
      const n = f.data.byteLength;
      piece.set(f.data, c * chunk);
      link.release?.(f);
      if (k < N - 2) {
        // Forward our copy: `piece` is not written again, `f.data` may be reused.
        const data = piece.subarray(c * chunk, c * chunk + n);
        link.send(header(k + 1, c, f.count), data.byteLength, (dst) => dst.set(data), data);
      }
    }
    pieces[src] = piece!;
  }
  await link.flush?.();
  return pieces;
}
