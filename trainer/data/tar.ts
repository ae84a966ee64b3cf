/**
 * Minimal POSIX ustar writer and reader. Written by hand because the shard index records the
 * exact byte offset of every member's data: header (512 bytes) + data padded to 512, then two
 * zero blocks at the end, as GNU tar and Python's tarfile (hence WebDataset) read it.
 */
import { InputError } from '../../common/errors.js';

export const BLOCK = 512;

export function paddedSize(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** Bytes a member of `dataLength` bytes takes in the archive, header included. */
export function memberSpan(dataLength: number): number {
  return BLOCK + paddedSize(dataLength);
}

function writeString(buf: Buffer, s: string, at: number, len: number): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > len) throw new InputError(`tar field too long: "${s}" (max ${len} bytes)`);
  b.copy(buf, at);
}

function writeOctal(buf: Buffer, value: number, at: number, len: number): void {
  // len-1 octal digits, zero padded, NUL terminated.
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new InputError(`tar numeric field overflow: ${value}`);
  writeString(buf, s + '\0', at, len);
}

/** A 512-byte ustar header for a regular file. mtime 0 keeps shards byte-reproducible. */
export function tarHeader(name: string, size: number, mtime = 0): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) {
      throw new InputError(`tar member name too long: ${name}`);
    }
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  writeString(h, base, 0, 100);
  writeOctal(h, 0o644, 100, 8);
  writeOctal(h, 0, 108, 8);
  writeOctal(h, 0, 116, 8);
  writeOctal(h, size, 124, 12);
  writeOctal(h, mtime, 136, 12);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h[156] = 0x30; // '0' regular file
  writeString(h, 'ustar\0', 257, 6);
  writeString(h, '00', 263, 2);
  writeString(h, prefix, 345, 155);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  writeString(h, sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

export interface TarEntry {
  name: string;
  /** Offset of the member's data in the archive. */
  offset: number;
  size: number;
}

/** Lists the regular-file members of an archive held in memory, checking header checksums. */
export function readTarEntries(buf: Uint8Array): TarEntry[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: TarEntry[] = [];
  let pos = 0;
  while (pos + BLOCK <= b.length) {
    const h = b.subarray(pos, pos + BLOCK);
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    const stored = parseInt(h.toString('ascii', 148, 156).replace(/\0.*$/, '').trim(), 8);
    if (stored !== sum) throw new InputError(`tar header checksum mismatch at offset ${pos}`);
    const cstr = (a: number, n: number) => h.toString('utf8', a, a + n).replace(/\0.*$/s, '');
    const name = cstr(0, 100);
    const prefix = cstr(345, 155);
    const size = parseInt(cstr(124, 12).trim() || '0', 8);
    const type = h[156]!;
    if (type === 0x30 || type === 0) {
      out.push({ name: prefix ? `${prefix}/${name}` : name, offset: pos + BLOCK, size });
    }
    pos += memberSpan(size);
    if (pos > b.length) throw new InputError(`tar archive truncated in member ${name}`);
  }
  return out;
}
