/**
 * torchvision's ResNet / ResNeXt / Wide ResNet as a functional tfjs model (docs/engine.md).
 *
 * Parameters are tf.Variables keyed by torchvision state_dict names, in state_dict order.
 * Layouts inside tfjs: conv weights HWIO [kh, kw, in/groups, out], fc.weight [in, out]
 * (weights.ts converts to PyTorch's OIHW / [out, in] on disk). Activations are NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { backend_util } from '@tensorflow/tfjs-core';
import { bottleneckWidth, expansionOf, type ResNetArch } from './arch.js';
import { applyBnUpdate, batchNormEval, batchNormTrain, type BnBatchStats } from './batchnorm.js';
import { groupedConv2d, useNativeGroupedConv } from '../engine/kernels/tensorflow.js';
import { Rng } from '../rng.js';

export interface ConvSpec {
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
  groups: number;
}

interface BnSpec {
  name: string;
  channels: number;
  index: number;
}

interface Block {
  convs: ConvSpec[];
  bns: BnSpec[];
  downsample: { conv: ConvSpec; bn: BnSpec } | null;
}

export interface ResNetOptions {
  numClasses: number;
  /** Seeds the torchvision-style initialisation. */
  seed: number;
  /**
   * 'torchvision' (default) draws torchvision's init; 'zeros' skips it (BN still 1/0) — for
   * models whose weights are loaded right after, where drawing 25M normals would be wasted.
   */
  init?: 'torchvision' | 'zeros';
}

export interface ForwardResult {
  logits: tf.Tensor2D;
  /** Training mode only: per-BN batch statistics for updateBnStats (which disposes them). */
  bnStats?: BnBatchStats[];
}

let modelCounter = 0;

export class ResNetModel {
  readonly arch: ResNetArch;
  readonly numClasses: number;
  /** Trainable tensors in torchvision state_dict order (the optimizer relies on it). */
  readonly params = new Map<string, tf.Variable>();
  /** running_mean, running_var (float32) and num_batches_tracked (int32 scalar) per BN. */
  readonly buffers = new Map<string, tf.Variable>();
  /** Every param and buffer name in torchvision's state_dict order. */
  readonly stateNames: string[] = [];
  private readonly stem: { conv: ConvSpec; bn: BnSpec };
  private readonly blocks: Block[][] = [];
  private readonly bnNames: string[] = [];
  private readonly normParams = new Set<string>();
  private readonly uid = ++modelCounter;

  constructor(arch: ResNetArch, options: ResNetOptions) {
    this.arch = arch;
    this.numClasses = options.numClasses;
    const rng = options.init === 'zeros' ? null : new Rng(options.seed, 0x5e7);
    const stemConv: ConvSpec =
      arch.stem === 'imagenet'
        ? conv('conv1', 3, arch.planes[0], 7, 2, 3)
        : conv('conv1', 3, arch.planes[0], 3, 1, 1);
    this.addConv(stemConv, rng);
    this.stem = { conv: stemConv, bn: this.addBn('bn1', arch.planes[0]) };

    const expansion = expansionOf(arch.block);
    let inplanes = arch.planes[0];
    for (let stage = 0; stage < 4; stage++) {
      const planes = arch.planes[stage]!;
      const blocks: Block[] = [];
      for (let b = 0; b < arch.layers[stage]!; b++) {
        const p = `layer${stage + 1}.${b}`;
        const stride = stage > 0 && b === 0 ? 2 : 1;
        const block: Block = { convs: [], bns: [], downsample: null };
        const specs: Array<[ConvSpec, string, number]> =
          arch.block === 'basic'
            ? [
                [conv(`${p}.conv1`, inplanes, planes, 3, stride, 1), `${p}.bn1`, planes],
                [conv(`${p}.conv2`, planes, planes, 3, 1, 1), `${p}.bn2`, planes],
              ]
            : bottleneckSpecs(arch, p, inplanes, planes, stride);
        for (const [c, bnName, ch] of specs) {
          this.addConv(c, rng);
          block.convs.push(c);
          block.bns.push(this.addBn(bnName, ch));
        }
        if (stride !== 1 || inplanes !== planes * expansion) {
          const c = conv(`${p}.downsample.0`, inplanes, planes * expansion, 1, stride, 0);
          this.addConv(c, rng);
          block.downsample = { conv: c, bn: this.addBn(`${p}.downsample.1`, planes * expansion) };
        }
        blocks.push(block);
        inplanes = planes * expansion;
      }
      this.blocks.push(blocks);
    }
    // nn.Linear's default init: weight and bias uniform ±1/√fan_in (torchvision keeps it).
    const bound = 1 / Math.sqrt(inplanes);
    const w = new Float32Array(inplanes * this.numClasses);
    const bias = new Float32Array(this.numClasses);
    if (rng) {
      for (let i = 0; i < w.length; i++) w[i] = rng.uniform(-bound, bound);
      for (let i = 0; i < bias.length; i++) bias[i] = rng.uniform(-bound, bound);
    }
    // Drawn in PyTorch's [out, in] order so the stream does not depend on our layout.
    this.addParam(
      'fc.weight',
      tf.tidy(() => tf.transpose(tf.tensor2d(w, [this.numClasses, inplanes]))),
    );
    this.addParam('fc.bias', tf.tensor1d(bias));
  }

  /** BatchNorm γ and β: the optimizer's `normWeightDecay` group. */
  isNormParam(name: string): boolean {
    return this.normParams.has(name);
  }

  /** Channels into the classifier (512·expansion for torchvision's widths). */
  get featureChannels(): number {
    return this.params.get('fc.weight')!.shape[0]!;
  }

  /** x: NHWC float32 images, normalized. */
  forward(x: tf.Tensor4D, training: boolean): ForwardResult {
    const stats: BnBatchStats[] = [];
    const logits = tf.tidy(() => {
      let h = this.convBn(x, this.stem.conv, this.stem.bn, training, stats, true);
      if (this.arch.stem === 'imagenet') h = maxPool3x3s2(h);
      for (const stage of this.blocks) {
        for (const block of stage) h = this.block(h, block, training, stats);
      }
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
      return tf.add(
        tf.matMul(pooled, this.params.get('fc.weight')!),
        this.params.get('fc.bias')!,
      ) as tf.Tensor2D;
    });
    return training ? { logits, bnStats: stats } : { logits };
  }

  /** Folds one training step's batch statistics into the running buffers; disposes them. */
  updateBnStats(stats: BnBatchStats[]): void {
    for (const s of stats) {
      const name = this.bnNames[s.layer]!;
      applyBnUpdate(
        s,
        this.buffers.get(`${name}.running_mean`)!,
        this.buffers.get(`${name}.running_var`)!,
        this.buffers.get(`${name}.num_batches_tracked`)!,
      );
    }
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const v of this.buffers.values()) v.dispose();
  }

  private block(x: tf.Tensor4D, b: Block, training: boolean, stats: BnBatchStats[]): tf.Tensor4D {
    let h = x;
    const last = b.convs.length - 1;
    for (let i = 0; i <= last; i++)
      h = this.convBn(h, b.convs[i]!, b.bns[i]!, training, stats, i < last);
    const identity = b.downsample
      ? this.convBn(x, b.downsample.conv, b.downsample.bn, training, stats, false)
      : x;
    return tf.relu(tf.add(h, identity)) as tf.Tensor4D;
  }

  private convBn(
    x: tf.Tensor4D,
    c: ConvSpec,
    bn: BnSpec,
    training: boolean,
    stats: BnBatchStats[],
    relu: boolean,
  ): tf.Tensor4D {
    const y = conv2d(x, this.params.get(`${c.name}.weight`)! as tf.Tensor4D, c);
    const gamma = this.params.get(`${bn.name}.weight`)! as tf.Tensor1D;
    const beta = this.params.get(`${bn.name}.bias`)! as tf.Tensor1D;
    let out: tf.Tensor4D;
    if (training) {
      const r = batchNormTrain(y, gamma, beta);
      stats.push({
        layer: bn.index,
        mean: r.mean,
        variance: r.variance,
        count: y.size / bn.channels,
      });
      out = r.y;
    } else {
      out = batchNormEval(
        y,
        gamma,
        beta,
        this.buffers.get(`${bn.name}.running_mean`)! as tf.Tensor1D,
        this.buffers.get(`${bn.name}.running_var`)! as tf.Tensor1D,
      );
    }
    return relu ? (tf.relu(out) as tf.Tensor4D) : out;
  }

  private addParam(name: string, value: tf.Tensor): void {
    this.params.set(name, tf.variable(value, true, `rm${this.uid}/${name}`));
    this.stateNames.push(name);
    value.dispose();
  }

  private addBuffer(name: string, value: tf.Tensor): void {
    this.buffers.set(name, tf.variable(value, false, `rm${this.uid}/${name}`));
    this.stateNames.push(name);
    value.dispose();
  }

  /** Kaiming normal, mode fan_out (= out·kh·kw, whatever the groups), as torchvision inits. */
  private addConv(c: ConvSpec, rng: Rng | null): void {
    const inPerGroup = c.inChannels / c.groups;
    const std = Math.sqrt(2 / (c.outChannels * c.kernel * c.kernel));
    const w = new Float32Array(c.outChannels * inPerGroup * c.kernel * c.kernel);
    if (rng) for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
    // Drawn in OIHW order (PyTorch's), stored HWIO.
    const hwio = tf.tidy(() =>
      tf.transpose(tf.tensor4d(w, [c.outChannels, inPerGroup, c.kernel, c.kernel]), [2, 3, 1, 0]),
    );
    this.addParam(`${c.name}.weight`, hwio);
  }

  private addBn(name: string, channels: number): BnSpec {
    this.addParam(`${name}.weight`, tf.ones([channels]));
    this.addParam(`${name}.bias`, tf.zeros([channels]));
    this.normParams.add(`${name}.weight`).add(`${name}.bias`);
    this.addBuffer(`${name}.running_mean`, tf.zeros([channels]));
    this.addBuffer(`${name}.running_var`, tf.ones([channels]));
    this.addBuffer(`${name}.num_batches_tracked`, tf.scalar(0, 'int32'));
    this.bnNames.push(name);
    return { name, channels, index: this.bnNames.length - 1 };
  }
}

function conv(
  name: string,
  inChannels: number,
  outChannels: number,
  kernel: number,
  stride: number,
  padding: number,
  groups = 1,
): ConvSpec {
  return { name, inChannels, outChannels, kernel, stride, padding, groups };
}

function bottleneckSpecs(
  arch: ResNetArch,
  p: string,
  inplanes: number,
  planes: number,
  stride: number,
): Array<[ConvSpec, string, number]> {
  const width = bottleneckWidth(arch, planes);
  const out = planes * expansionOf(arch.block);
  return [
    [conv(`${p}.conv1`, inplanes, width, 1, 1, 0), `${p}.bn1`, width],
    [conv(`${p}.conv2`, width, width, 3, stride, 1, arch.groups), `${p}.bn2`, width],
    [conv(`${p}.conv3`, width, out, 1, 1, 0), `${p}.bn3`, out],
  ];
}

/**
 * torchvision's symmetric padding p as tfjs's explicit form. A plain number would do on the
 * wasm and cpu backends, but TensorFlow's kernels reject it ("supports only 'valid' and
 * 'same'"), and 'same' is not symmetric at stride 2 (it pads bottom/right only). The explicit
 * form reaches TF's Conv2D and both backward convs as padding=EXPLICIT: no copy of the input.
 */
function symmetric(p: number): 'valid' | backend_util.ExplicitPadding {
  return p === 0
    ? 'valid'
    : [
        [0, 0],
        [p, p],
        [p, p],
        [0, 0],
      ];
}

/**
 * The stem's max-pool (3×3, stride 2, padding 1). tf.maxPool takes no explicit padding and TF's
 * MaxPool rejects a numeric one, so the border is made explicit with -∞, which never wins a
 * window (PyTorch's padding semantics), and the pool runs 'valid'. Identical on every backend.
 */
export function maxPool3x3s2(x: tf.Tensor4D): tf.Tensor4D {
  const padded = tf.pad(
    x,
    [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    -Infinity,
  );
  return tf.maxPool(padded, 3, 2, 'valid');
}

/**
 * Conv with torchvision's symmetric padding. tfjs has no grouped conv: on a GPU it is one
 * TensorFlow op (engine/kernels/tensorflow.ts); elsewhere groups are convolved separately and
 * concatenated (faster than TF's grouped op on CPU).
 */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, c: ConvSpec): tf.Tensor4D {
  const pad = symmetric(c.padding);
  if (c.groups === 1) return tf.conv2d(x, w, c.stride, pad);
  if (useNativeGroupedConv()) return groupedConv2d(x, w, c.stride, pad, c.groups);
  const inG = c.inChannels / c.groups;
  const outG = c.outChannels / c.groups;
  const xs = tf.split(x, c.groups, 3) as tf.Tensor4D[];
  const ys = xs.map((xg, g) =>
    tf.conv2d(xg, tf.slice(w, [0, 0, 0, g * outG], [-1, -1, inG, outG]), c.stride, pad),
  );
  return tf.concat(ys, 3) as tf.Tensor4D;
}

/** A freshly initialised model, torchvision's init drawn from Rng(seed). */
export function createResNet(arch: ResNetArch, options: ResNetOptions): ResNetModel {
  return new ResNetModel(arch, options);
}
