/**
 * Kernels that complete tfjs-node's TensorFlow backend for torchvision's models.
 *
 * tfjs-node's Conv2D kernel passes explicit paddings to TensorFlow (padding=EXPLICIT), but
 * its two backward convolutions reject them ("supports only 'valid' and 'same'"), although
 * TensorFlow's Conv2DBackpropInput and Conv2DBackpropFilter ops take the same attribute. These
 * replacements pass it through, so a symmetric PyTorch padding costs no copy of the input in
 * either direction (ResNet's stride-2 convs cannot use 'same': it pads bottom/right only).
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';

/** The part of tfjs-node's NodeJSKernelBackend these kernels use. */
interface NodeBackend {
  binding: {
    TF_ATTR_INT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_TYPE: number;
    TF_FLOAT: number;
    TF_INT32: number;
  };
  executeSingleOutput(
    name: string,
    attrs: Array<{ name: string; type: number; value: unknown }>,
    inputs: TensorInfo[],
  ): TensorInfo;
}

/** The attributes TF's backward conv ops share, padding included as TF wants it. */
function convAttrs(b: NodeBackend, info: backend_util.Conv2DInfo) {
  const { type, top, bottom, left, right } = info.padInfo;
  const nhwc = info.dataFormat === 'channelsLast';
  const attrs: Array<{ name: string; type: number; value: unknown }> = [
    { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
    {
      name: 'strides',
      type: b.binding.TF_ATTR_INT,
      value: [1, info.strideHeight, info.strideWidth, 1],
    },
    { name: 'use_cudnn_on_gpu', type: b.binding.TF_ATTR_BOOL, value: true },
    { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: nhwc ? 'NHWC' : 'NCHW' },
    {
      name: 'dilations',
      type: b.binding.TF_ATTR_INT,
      value: [1, info.dilationHeight, info.dilationWidth, 1],
    },
  ];
  if (type === 'VALID' || type === 'SAME') {
    attrs.push({ name: 'padding', type: b.binding.TF_ATTR_STRING, value: type });
  } else {
    // A numeric pad arrives here as 'NUMBER' with the same four sides: both are explicit to TF.
    const hw = [top, bottom, left, right];
    attrs.push({ name: 'padding', type: b.binding.TF_ATTR_STRING, value: 'EXPLICIT' });
    attrs.push({
      name: 'explicit_paddings',
      type: b.binding.TF_ATTR_INT,
      value: nhwc ? [0, 0, ...hw, 0, 0] : [0, 0, 0, 0, ...hw],
    });
  }
  return attrs;
}

/**
 * Whether TensorFlow runs on a GPU (tensorflow-gpu): cuDNN computes grouped convolutions'
 * gradients itself (TF's CPU kernels refuse: "Gradients for grouped convolutions are not
 * supported on CPU") and has no slow backward-data case to route around.
 */
let nativeGroupedGradients = false;

/** Shared by the two backward convs: TF's op wants the other side's shape as an int32 input. */
function backwardConv(
  backend: unknown,
  op: typeof tf.Conv2DBackpropInput | typeof tf.Conv2DBackpropFilter,
  xShape: number[],
  filterShape: number[],
  a: tf.Conv2DBackpropInputAttrs | tf.Conv2DBackpropFilterAttrs,
  inputs: (sizes: TensorInfo) => TensorInfo[],
): TensorInfo {
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(a.dataFormat),
  );
  const b = backend as NodeBackend;
  const isInput = op === tf.Conv2DBackpropInput;
  const sizes = tf.tensor1d(isInput ? info.inShape : info.filterShape, 'int32');
  try {
    return b.executeSingleOutput(op, convAttrs(b, info), inputs(sizes));
  } finally {
    sizes.dispose();
  }
}

/**
 * dX of a convolution as a forward one: dy correlated with the filter flipped in space and
 * with in/out swapped, padded by k−1−p. TF's CPU Conv2DBackpropInput is pathologically slow
 * on small maps with many channels: 260–280 ms for dy 32×2×2×512 and a 3×3×512×512 filter
 * (ResNet's last stage at 64² input), 2.3 GFLOP/s, whatever the padding mode — 1.13 s of a
 * 1.44 s resnet18 step. The forward Conv2D (oneDNN) has no such case. Returns null where the
 * composition does not apply or does not pay (dilation, NCHW, a padding beyond k−1, a strided
 * conv on a large map).
 */
function backpropInputViaForward(
  b: NodeBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | null {
  const { strideHeight: sh, strideWidth: sw, dilationHeight, dilationWidth } = info;
  const { filterHeight: kh, filterWidth: kw, inHeight, inWidth, outHeight, outWidth } = info;
  const { top, left } = info.padInfo;
  // Strided: dy with s−1 zeros after every element (the rows/columns the stride skipped) goes
  // through the same stride-1 correlation. That multiplies the work by s², so it pays only
  // where TF's kernel is at its worst (measured: 4×4 maps 110 → 19 ms, 8×8 even, 16×16 worse).
  if (dilationHeight !== 1 || dilationWidth !== 1 || info.dataFormat !== 'channelsLast')
    return null;
  if ((sh > 1 || sw > 1) && inHeight * inWidth > 64) return null;
  const padT = kh - 1 - top;
  const padL = kw - 1 - left;
  const pads = [
    padT,
    inHeight + kh - 1 - outHeight * sh - padT,
    padL,
    inWidth + kw - 1 - outWidth * sw - padL,
  ];
  if (pads.some((p) => p < 0)) return null;
  const { TF_ATTR_TYPE, TF_ATTR_INT, TF_ATTR_STRING, TF_ATTR_BOOL, TF_FLOAT, TF_INT32 } = b.binding;
  const float = { name: 'T', type: TF_ATTR_TYPE, value: TF_FLOAT };
  const axes = tf.tensor1d([0, 1], 'int32');
  const perm = tf.tensor1d([0, 1, 3, 2], 'int32');
  const [n, ho, wo, c] = dy.shape as [number, number, number, number];
  const strided = sh > 1 || sw > 1;
  const shapes = strided
    ? [
        tf.tensor1d([n, ho, 1, wo, 1, c], 'int32'),
        tf.tensor2d([0, 0, 0, 0, 0, sh - 1, 0, 0, 0, sw - 1, 0, 0], [6, 2], 'int32'),
        tf.tensor1d([n, ho * sh, wo * sw, c], 'int32'),
      ]
    : [];
  let flipped: TensorInfo | undefined;
  let swapped: TensorInfo | undefined;
  const spread: TensorInfo[] = [];
  try {
    let src = dy;
    if (strided) {
      const shape = { name: 'Tshape', type: TF_ATTR_TYPE, value: TF_INT32 };
      spread.push(b.executeSingleOutput('Reshape', [float, shape], [dy, shapes[0]!]));
      spread.push(
        b.executeSingleOutput(
          'Pad',
          [float, { name: 'Tpaddings', type: TF_ATTR_TYPE, value: TF_INT32 }],
          [spread[0]!, shapes[1]!],
        ),
      );
      spread.push(b.executeSingleOutput('Reshape', [float, shape], [spread[1]!, shapes[2]!]));
      src = spread[2]!;
    }
    flipped = b.executeSingleOutput(
      'ReverseV2',
      [{ name: 'Tidx', type: TF_ATTR_TYPE, value: TF_INT32 }, float],
      [filter, axes],
    );
    swapped = b.executeSingleOutput(
      'Transpose',
      [float, { name: 'Tperm', type: TF_ATTR_TYPE, value: TF_INT32 }],
      [flipped, perm],
    );
    return b.executeSingleOutput(
      tf.Conv2D,
      [
        float,
        { name: 'strides', type: TF_ATTR_INT, value: [1, 1, 1, 1] },
        { name: 'use_cudnn_on_gpu', type: TF_ATTR_BOOL, value: true },
        { name: 'padding', type: TF_ATTR_STRING, value: 'EXPLICIT' },
        { name: 'explicit_paddings', type: TF_ATTR_INT, value: [0, 0, ...pads, 0, 0] },
        { name: 'data_format', type: TF_ATTR_STRING, value: 'NHWC' },
        { name: 'dilations', type: TF_ATTR_INT, value: [1, 1, 1, 1] },
      ],
      [src, swapped],
    );
  } finally {
    tf.dispose([axes, perm, ...shapes, flipped, swapped, ...spread].filter(Boolean) as tf.Tensor[]);
  }
}

const conv2DBackpropInput: KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'tensorflow',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    // cuDNN's backward data kernels are fine; the composition is for TF's CPU kernels.
    if (!nativeGroupedGradients) {
      const info = backend_util.computeConv2DInfo(
        a.inputShape,
        filter.shape as [number, number, number, number],
        a.strides,
        1,
        a.pad,
        a.dimRoundingMode,
        false,
        backend_util.convertConv2DDataFormat(a.dataFormat),
      );
      const dx = backpropInputViaForward(backend as unknown as NodeBackend, dy, filter, info);
      if (dx) return dx;
    }
    return backwardConv(backend, tf.Conv2DBackpropInput, a.inputShape, filter.shape, a, (s) => [
      s,
      filter,
      dy,
    ]);
  },
};

const conv2DBackpropFilter: KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'tensorflow',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    return backwardConv(backend, tf.Conv2DBackpropFilter, x.shape, a.filterShape, a, (s) => [
      x,
      s,
      dy,
    ]);
  },
};

let registered = false;

/** Replaces tfjs-node's two backward convs (idempotent). Call after tfjs-node has loaded. */
export function registerTensorflowKernels(): void {
  if (registered) return;
  registered = true;
  for (const k of [conv2DBackpropInput, conv2DBackpropFilter]) {
    if (tf.getKernel(k.kernelName, 'tensorflow')) tf.unregisterKernel(k.kernelName, 'tensorflow');
    tf.registerKernel(k);
  }
}

/** Set by the backend selection: true on tensorflow-gpu. */
export function setNativeGroupedGradients(on: boolean): void {
  nativeGroupedGradients = on;
}

/**
 * Whether a model should run its grouped convolutions through groupedConv2d: on the GPU.
 * On TF's CPU kernels the grouped forward op is slower than the split one (measured 32 groups,
 * 16×28×28×128, 3×3: 136–218 ms against 105–138 ms forward; forward+backward 310–537 against
 * 210–283 ms), so the CPU keeps the split.
 */
export function useNativeGroupedConv(): boolean {
  return nativeGroupedGradients && tf.getBackend() === 'tensorflow';
}

/**
 * A grouped convolution (ResNeXt) as one TensorFlow op: TF infers the groups from the filter's
 * input depth (in/groups). tfjs's conv2d op would reject that shape, so the kernel is run
 * directly, with its own gradient: one op each on the GPU (cuDNN); on the CPU, where TF has no
 * grouped backward, per group — that path exists so the op is tested on CPU machines; models
 * use it only where useNativeGroupedConv(). Only for the 'tensorflow' backend.
 */
export function groupedConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  pad: 'valid' | backend_util.ExplicitPadding,
  groups: number,
): tf.Tensor4D {
  const strides: [number, number] = [stride, stride];
  const convAttrs = { strides, pad, dataFormat: 'NHWC', dilations: [1, 1] };
  const op = tf.customGrad((...args: unknown[]) => {
    const [xi, wi, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xi, wi]);
    const value = tf.engine().runKernel(tf.Conv2D, { x: xi, filter: wi }, convAttrs) as tf.Tensor4D;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dx = (d: tf.Tensor4D, f: tf.Tensor4D, shape: number[]) =>
        tf
          .engine()
          .runKernel(
            tf.Conv2DBackpropInput,
            { dy: d, filter: f },
            { strides, pad, dataFormat: 'NHWC', inputShape: shape },
          ) as tf.Tensor4D;
      const dw = (xg: tf.Tensor4D, d: tf.Tensor4D, shape: number[]) =>
        tf
          .engine()
          .runKernel(
            tf.Conv2DBackpropFilter,
            { x: xg, dy: d },
            { strides, pad, dataFormat: 'NHWC', filterShape: shape },
          ) as tf.Tensor4D;
      if (nativeGroupedGradients)
        return [dx(dy as tf.Tensor4D, ws, xs.shape), dw(xs, dy as tf.Tensor4D, ws.shape)];
      const outG = ws.shape[3] / groups;
      const dys = tf.split(dy, groups, 3) as tf.Tensor4D[];
      const xsg = tf.split(xs, groups, 3) as tf.Tensor4D[];
      const dxs: tf.Tensor4D[] = [];
      const dws: tf.Tensor4D[] = [];
      for (let g = 0; g < groups; g++) {
        const wg = tf.slice(ws, [0, 0, 0, g * outG], [-1, -1, -1, outG]) as tf.Tensor4D;
        dxs.push(dx(dys[g]!, wg, [...xsg[g]!.shape]));
        dws.push(dw(xsg[g]!, dys[g]!, [...wg.shape]));
      }
      return [tf.concat(dxs, 3), tf.concat(dws, 3)];
    };
    return { value, gradFunc };
  });
  return op(x, w) as tf.Tensor4D;
}
