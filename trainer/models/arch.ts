/**
 * ResNet-family architectures as data. The model builder, the parameter/FLOP counts in
 * `ringmaster plan` and the weights' meta.json all read the same table, so a change here
 * cannot make them disagree.
 *
 * Shapes follow torchvision's `resnet.py` ("ResNet v1.5": a bottleneck's stride sits on its
 * 3×3 conv; the width of a bottleneck is floor(planes · widthPerGroup / 64) · groups).
 */
import type { ModelName } from '../../api/schema.js';
import { InputError } from '../../common/errors.js';

export type BlockKind = 'basic' | 'bottleneck';

/**
 * 'imagenet': 7×7 conv stride 2 pad 3, BN, ReLU, max-pool 3 stride 2 pad 1 (torchvision).
 * 'cifar': 3×3 conv stride 1 pad 1, BN, ReLU, no pool — for the small test/demo models whose
 * inputs are 32 px, where the ImageNet stem would shrink the image to 8 px before stage 1.
 */
export type StemKind = 'imagenet' | 'cifar';

export interface ResNetArch {
  readonly name: string;
  readonly block: BlockKind;
  /** Blocks per stage. */
  readonly layers: readonly [number, number, number, number];
  readonly groups: number;
  readonly widthPerGroup: number;
  /** Planes per stage; the stem outputs planes[0] channels (64 in torchvision). */
  readonly planes: readonly [number, number, number, number];
  readonly stem: StemKind;
}

/** Output channels of a block = planes · expansion. */
export function expansionOf(block: BlockKind): number {
  return block === 'bottleneck' ? 4 : 1;
}

/** Channels of a bottleneck's inner 3×3 conv (torchvision's `width`). */
export function bottleneckWidth(arch: ResNetArch, planes: number): number {
  return Math.floor(planes * (arch.widthPerGroup / 64)) * arch.groups;
}

const TORCHVISION_PLANES = [64, 128, 256, 512] as const;
const MINI_PLANES = [16, 32, 64, 128] as const;

function tv(
  name: string,
  block: BlockKind,
  layers: readonly [number, number, number, number],
  groups = 1,
  widthPerGroup = 64,
): ResNetArch {
  return Object.freeze({
    name,
    block,
    layers,
    groups,
    widthPerGroup,
    planes: TORCHVISION_PLANES,
    stem: 'imagenet',
  });
}

/** Every architecture a recipe may name: one per name of the recipe's `model` enum. */
export const ARCHS = Object.freeze({
  resnet18: tv('resnet18', 'basic', [2, 2, 2, 2]),
  resnet34: tv('resnet34', 'basic', [3, 4, 6, 3]),
  resnet50: tv('resnet50', 'bottleneck', [3, 4, 6, 3]),
  resnet101: tv('resnet101', 'bottleneck', [3, 4, 23, 3]),
  resnet152: tv('resnet152', 'bottleneck', [3, 8, 36, 3]),
  resnext50_32x4d: tv('resnext50_32x4d', 'bottleneck', [3, 4, 6, 3], 32, 4),
  resnext101_32x8d: tv('resnext101_32x8d', 'bottleneck', [3, 4, 23, 3], 32, 8),
  wide_resnet50_2: tv('wide_resnet50_2', 'bottleneck', [3, 4, 6, 3], 1, 128),
  wide_resnet101_2: tv('wide_resnet101_2', 'bottleneck', [3, 4, 23, 3], 1, 128),
  // Scaled-down members of the same family for tests and the 2-core CPU demo.
  resnet_mini: Object.freeze<ResNetArch>({
    name: 'resnet_mini',
    block: 'basic',
    layers: [1, 1, 1, 1],
    groups: 1,
    widthPerGroup: 64,
    planes: MINI_PLANES,
    stem: 'cifar',
  }),
  resnet_small: Object.freeze<ResNetArch>({
    name: 'resnet_small',
    block: 'basic',
    layers: [2, 2, 2, 2],
    groups: 1,
    widthPerGroup: 64,
    planes: [32, 64, 128, 256],
    stem: 'cifar',
  }),
  resnext_mini: Object.freeze<ResNetArch>({
    name: 'resnext_mini',
    block: 'bottleneck',
    layers: [1, 1, 1, 1],
    groups: 4,
    widthPerGroup: 4,
    planes: MINI_PLANES,
    stem: 'cifar',
  }),
} satisfies Record<ModelName, ResNetArch>);

export type ArchName = keyof typeof ARCHS;
export const ARCH_NAMES = Object.freeze(Object.keys(ARCHS) as ArchName[]);

export function isArchName(name: string): name is ArchName {
  return Object.prototype.hasOwnProperty.call(ARCHS, name);
}

export function getArch(name: string): ResNetArch {
  if (!isArchName(name)) {
    throw new InputError(`unknown model "${name}"`, [
      { path: 'model', message: `must be one of ${ARCH_NAMES.join(', ')}` },
    ]);
  }
  return ARCHS[name];
}

/** One convolution (no bias, as everywhere in torchvision's ResNets) or the final linear. */
export interface LayerShape {
  readonly name: string;
  readonly kind: 'conv' | 'bn' | 'linear';
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly groups: number;
  /** Spatial size of the input (square) for convs; 1 for the linear layer. */
  readonly inSize: number;
  readonly outSize: number;
}

function convOut(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/**
 * The network as a flat list of conv/bn/linear layers with torchvision's state_dict prefixes
 * (`conv1`, `layer1.0.conv2`, `layer2.0.downsample.0`, `fc`), for a square input.
 */
export function layerShapes(arch: ResNetArch, inputSize: number, numClasses: number): LayerShape[] {
  const out: LayerShape[] = [];
  let size = inputSize;
  const conv = (
    name: string,
    cin: number,
    cout: number,
    kernel: number,
    stride: number,
    padding: number,
    groups = 1,
  ): void => {
    const o = convOut(size, kernel, stride, padding);
    out.push({
      name,
      kind: 'conv',
      inChannels: cin,
      outChannels: cout,
      kernel,
      stride,
      padding,
      groups,
      inSize: size,
      outSize: o,
    });
    size = o;
  };
  const bn = (name: string, c: number): void => {
    out.push({
      name,
      kind: 'bn',
      inChannels: c,
      outChannels: c,
      kernel: 1,
      stride: 1,
      padding: 0,
      groups: 1,
      inSize: size,
      outSize: size,
    });
  };

  let inplanes = arch.planes[0];
  if (arch.stem === 'imagenet') {
    conv('conv1', 3, inplanes, 7, 2, 3);
    bn('bn1', inplanes);
    size = convOut(size, 3, 2, 1); // max-pool
  } else {
    conv('conv1', 3, inplanes, 3, 1, 1);
    bn('bn1', inplanes);
  }

  const expansion = expansionOf(arch.block);
  for (let stage = 0; stage < 4; stage++) {
    const planes = arch.planes[stage]!;
    for (let b = 0; b < arch.layers[stage]!; b++) {
      const prefix = `layer${stage + 1}.${b}`;
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const blockIn = size;
      if (arch.block === 'basic') {
        conv(`${prefix}.conv1`, inplanes, planes, 3, stride, 1);
        bn(`${prefix}.bn1`, planes);
        conv(`${prefix}.conv2`, planes, planes, 3, 1, 1);
        bn(`${prefix}.bn2`, planes);
      } else {
        const width = bottleneckWidth(arch, planes);
        conv(`${prefix}.conv1`, inplanes, width, 1, 1, 0);
        bn(`${prefix}.bn1`, width);
        conv(`${prefix}.conv2`, width, width, 3, stride, 1, arch.groups);
        bn(`${prefix}.bn2`, width);
        conv(`${prefix}.conv3`, width, planes * expansion, 1, 1, 0);
        bn(`${prefix}.bn3`, planes * expansion);
      }
      if (stride !== 1 || inplanes !== planes * expansion) {
        const after = size;
        size = blockIn;
        conv(`${prefix}.downsample.0`, inplanes, planes * expansion, 1, stride, 0);
        bn(`${prefix}.downsample.1`, planes * expansion);
        size = after;
      }
      inplanes = planes * expansion;
    }
  }
  out.push({
    name: 'fc',
    kind: 'linear',
    inChannels: inplanes,
    outChannels: numClasses,
    kernel: 1,
    stride: 1,
    padding: 0,
    groups: 1,
    inSize: 1,
    outSize: 1,
  });
  return out;
}

/** Trainable parameters (conv weights, BN γ/β, fc weight and bias), as `sum(p.numel())`. */
export function countParams(arch: ResNetArch, numClasses: number): number {
  let n = 0;
  // Parameter counts do not depend on the input size; any size that survives the stem works.
  for (const l of layerShapes(arch, 224, numClasses)) {
    if (l.kind === 'conv') n += l.outChannels * (l.inChannels / l.groups) * l.kernel * l.kernel;
    else if (l.kind === 'bn') n += 2 * l.outChannels;
    else n += l.inChannels * l.outChannels + l.outChannels;
  }
  return n;
}

/**
 * Multiply-accumulates of the conv and linear layers for one square image, the figure
 * torchvision publishes as "GFLOPS" (BN, ReLU, pooling and additions are not counted).
 */
export function countMacs(arch: ResNetArch, inputSize: number, numClasses: number): number {
  let n = 0;
  for (const l of layerShapes(arch, inputSize, numClasses)) {
    if (l.kind === 'conv') {
      n += l.outSize * l.outSize * l.outChannels * (l.inChannels / l.groups) * l.kernel * l.kernel;
    } else if (l.kind === 'linear') n += l.inChannels * l.outChannels;
  }
  return n;
}
