/**
 * The safetensors file format (huggingface/safetensors): an 8-byte little-endian header length,
 * a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {…}} padded
 * with spaces to a multiple of 8, then the raw little-endian tensor bytes. Small enough to
 * implement here rather than depend on a package.
 */
import { readFile, writeFile, rename } from 'node:fs/promises';
import { InputError } from '../../common/errors.js';

export type SafeDType = 'F32' | 'F64' | 'I32' | 'I64';
export type SafeData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: SafeData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafeDType, number> = { F32: 4, F64: 8, I32: 4, I64: 8 };

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function encodeSafetensors(
  tensors: ReadonlyMap<string, SafeTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.byteLength;
    if (bytes !== numel(t.shape) * BYTES[t.dtype]) {
      throw new InputError(
        `tensor ${name}: ${t.data.length} values do not fill shape [${t.shape.join(', ')}]`,
      );
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    // Typed arrays are little-endian on every platform Node runs on.
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

export function decodeSafetensors(buf: Uint8Array, source = 'safetensors'): SafetensorsFile {
  const bad = (why: string): InputError =>
    new InputError(`${source}: not a valid safetensors file (${why})`);
  if (buf.byteLength < 8) throw bad('shorter than its header length');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > buf.byteLength - 8 || headerLen > 100_000_000)
    throw bad('header length out of range');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(
      Buffer.from(buf.buffer, buf.byteOffset + 8, headerLen).toString('utf8'),
    ) as typeof header;
  } catch (err) {
    throw bad(`header is not JSON: ${(err as Error).message}`);
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as unknown as Record<string, string>;
      continue;
    }
    const dtype = entry.dtype as SafeDType;
    if (!(dtype in BYTES)) {
      throw new InputError(
        `${source}: tensor ${name} has dtype ${entry.dtype}; supported: F32, F64, I32, I64`,
      );
    }
    const [begin, end] = entry.data_offsets;
    if (!(begin >= 0 && end >= begin && dataStart + end <= buf.byteLength))
      throw bad(`offsets of ${name}`);
    if (end - begin !== numel(entry.shape) * BYTES[dtype]) throw bad(`size of ${name}`);
    // Copy into a fresh, aligned buffer: offsets in the file need not be aligned.
    // (Uint8Array's slice copies; a Node Buffer's slice would be a view.)
    const bytes = Uint8Array.prototype.slice.call(buf, dataStart + begin, dataStart + end);
    const data =
      dtype === 'F32'
        ? new Float32Array(bytes.buffer)
        : dtype === 'F64'
          ? new Float64Array(bytes.buffer)
          : dtype === 'I32'
            ? new Int32Array(bytes.buffer)
            : new BigInt64Array(bytes.buffer);
    tensors.set(name, { dtype, shape: [...entry.shape], data });
  }
  return { tensors, metadata };
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  return decodeSafetensors(await readFile(path), path);
}

/** Writes atomically (temp file + rename): readers never see half a file. */
export async function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, SafeTensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, encodeSafetensors(tensors, metadata));
  await rename(tmp, path);
}
