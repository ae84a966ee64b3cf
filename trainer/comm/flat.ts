import { addInto } from './sum.js';

/**
 * A list of Float32Arrays seen as one flat vector, so a collective can fuse many tensors
 * into one ring pass without copying them into a bucket first: chunks are gathered straight
 * from the arrays into outgoing frames and received chunks are added straight back.
 */
export class Flat {
  readonly length: number;
  private readonly starts: number[] = [];

  constructor(private readonly arrays: readonly Float32Array[]) {
    let n = 0;
    for (const a of arrays) {
      this.starts.push(n);
      n += a.length;
    }
    this.length = n;
  }

  /** Calls fn(array, from, to, at) for each piece of [start, start+len); `at` is the offset within the range. */
  private each(
    start: number,
    len: number,
    fn: (a: Float32Array, from: number, to: number, at: number) => void,
  ): void {
    if (len === 0) return;
    // Binary search for the array holding `start`.
    let lo = 0;
    let hi = this.arrays.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= start) lo = mid;
      else hi = mid - 1;
    }
    let at = 0;
    for (let i = lo; i < this.arrays.length && at < len; i++) {
      const a = this.arrays[i]!;
      const from = i === lo ? start - this.starts[i]! : 0;
      const n = Math.min(a.length - from, len - at);
      if (n > 0) {
        fn(a, from, from + n, at);
        at += n;
      }
    }
  }

  /** Copies elements [start, start+len) as little-endian bytes into dst (4·len bytes). */
  gatherBytes(start: number, len: number, dst: Uint8Array): void {
    this.each(start, len, (a, from, to, at) => {
      dst.set(new Uint8Array(a.buffer, a.byteOffset + from * 4, (to - from) * 4), at * 4);
    });
  }

  /**
   * The bytes of elements [start, start+len) without a copy, when one array holds them all;
   * undefined when they span arrays (gatherBytes then).
   */
  viewBytes(start: number, len: number): Uint8Array | undefined {
    let result: Uint8Array | undefined;
    let pieces = 0;
    this.each(start, len, (a, from, to) => {
      pieces++;
      result = new Uint8Array(a.buffer, a.byteOffset + from * 4, (to - from) * 4);
    });
    return pieces === 1 ? result : undefined;
  }

  /** this[start + i] += src[i]. */
  add(start: number, src: Float32Array): void {
    this.each(start, src.length, (a, from, to, at) => {
      addInto(a.subarray(from, to), src.subarray(at, at + (to - from)));
    });
  }

  /** this[start + i] = src[i]. */
  copy(start: number, src: Float32Array): void {
    this.each(start, src.length, (a, from, to, at) => {
      a.set(src.subarray(at, at + (to - from)), from);
    });
  }

  /** this[start + i] /= d. */
  divide(start: number, len: number, d: number): void {
    this.each(start, len, (a, from, to) => {
      for (let i = from; i < to; i++) a[i]! /= d;
    });
  }
}
