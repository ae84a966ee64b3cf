/**
 * Backend-level helpers for composing wasm kernels: they take and return `TensorInfo`s (not
 * tf.Tensors), so nothing is recorded on the gradient tape or tracked by tf scopes. Every
 * intermediate must be released with `free`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';

/** The few members of tfjs-backend-wasm's BackendWasm that composed kernels use. */
export interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export class WasmOps {
  constructor(readonly backend: WasmBackendLike) {}

  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: object = {}): TensorInfo {
    const kernel = tf.getKernel(kernelName, 'wasm');
    if (kernel === undefined) throw new Error(`wasm kernel ${kernelName} is not registered`);
    return kernel.kernelFunc({
      inputs,
      attrs: attrs as tf.NamedAttrMap,
      backend: this.backend as unknown as tf.KernelBackend,
    }) as TensorInfo;
  }

  /** A float32 view of a tensor on the wasm heap; invalid after the next allocation. */
  view(t: TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(t) as Float32Array;
  }

  free(...infos: TensorInfo[]): void {
    for (const t of infos) this.backend.disposeData(t.dataId);
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run('Slice', { x }, { begin, size });
  }

  stridedSlice(x: TensorInfo, begin: number[], end: number[], strides: number[]): TensorInfo {
    return this.run(
      'StridedSlice',
      { x },
      {
        begin,
        end,
        strides,
        beginMask: 0,
        endMask: 0,
        ellipsisMask: 0,
        newAxisMask: 0,
        shrinkAxisMask: 0,
      },
    );
  }

  pad(x: TensorInfo, paddings: Array<[number, number]>): TensorInfo {
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  reverse(x: TensorInfo, dims: number[]): TensorInfo {
    return this.run('Reverse', { x }, { dims });
  }

  /** [B, M, K] × [B, K, N]; only the untransposed form is fast on wasm. */
  matMul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /** A forward NHWC conv with explicit padding [[top, bottom], [left, right]]. */
  conv2d(
    x: TensorInfo,
    filter: TensorInfo,
    pads: [[number, number], [number, number]],
    dilations: [number, number] = [1, 1],
  ): TensorInfo {
    return this.run(
      'Conv2D',
      { x, filter },
      {
        strides: [1, 1],
        pad: [[0, 0], pads[0], pads[1], [0, 0]],
        dataFormat: 'NHWC',
        dilations,
        dimRoundingMode: undefined,
      },
    );
  }
}
