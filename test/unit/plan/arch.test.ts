import { strict as assert } from 'node:assert';
import { InputError } from '../../../common/errors.js';
import {
  ARCH_NAMES,
  ARCHS,
  bottleneckWidth,
  countMacs,
  countParams,
  getArch,
  layerShapes,
} from '../../../trainer/models/arch.js';

/**
 * torchvision's published figures (weights.meta: num_params, _ops = GFLOPS at 224) and
 * RECIPE.md's table at 176.
 */
const TORCHVISION: Array<[string, number, number, number?]> = [
  ['resnet18', 11_689_512, 1.814],
  ['resnet34', 21_797_672, 3.664],
  ['resnet50', 25_557_032, 4.089, 2.608],
  ['resnet101', 44_549_160, 7.801, 4.9],
  ['resnet152', 60_192_808, 11.514, 7.192],
  ['resnext50_32x4d', 25_028_904, 4.23, 2.69],
  ['resnext101_32x8d', 88_791_336, 16.414],
  ['wide_resnet50_2', 68_883_240, 11.398],
  ['wide_resnet101_2', 126_886_696, 22.753],
];

describe('ResNet architectures', () => {
  for (const [name, params, gflops224, gflops176] of TORCHVISION) {
    it(`${name}: ${params} params, ${gflops224} GFLOPs @224${gflops176 ? `, ${gflops176} @176` : ''}`, () => {
      const arch = getArch(name);
      assert.equal(countParams(arch, 1000), params);
      assert.equal(Number((countMacs(arch, 224, 1000) / 1e9).toFixed(3)), gflops224);
      if (gflops176 !== undefined) {
        assert.equal(Number((countMacs(arch, 176, 1000) / 1e9).toFixed(3)), gflops176);
      }
    });
  }

  it('resnet50 has 161 parameter tensors: 106 of normalization layers, 55 others', () => {
    let norm = 0;
    let other = 0;
    for (const l of layerShapes(ARCHS.resnet50, 224, 1000)) {
      if (l.kind === 'bn') norm += 2;
      else if (l.kind === 'conv') other += 1;
      else other += 2; // fc weight + bias
    }
    assert.deepEqual([norm, other], [106, 55]);
  });

  it('uses torchvision state_dict names and v1.5 strides (stride on the 3×3 conv)', () => {
    const layers = layerShapes(ARCHS.resnet50, 224, 1000);
    const byName = new Map(layers.map((l) => [l.name, l]));
    assert.equal(byName.get('conv1')!.outSize, 112);
    assert.equal(byName.get('layer1.0.conv1')!.inSize, 56); // after the max-pool
    assert.equal(byName.get('layer2.0.conv1')!.stride, 1);
    assert.equal(byName.get('layer2.0.conv2')!.stride, 2);
    assert.equal(byName.get('layer2.0.downsample.0')!.stride, 2);
    assert.equal(byName.get('layer4.2.conv3')!.outSize, 7);
    assert.equal(byName.get('fc')!.inChannels, 2048);
    assert.ok(byName.has('layer1.0.downsample.0')); // 64 → 256 channels
    assert.ok(!byName.has('layer1.1.downsample.0'));
  });

  it('ResNeXt width = floor(planes · widthPerGroup / 64) · groups, grouped 3×3 convs', () => {
    assert.equal(bottleneckWidth(ARCHS.resnext50_32x4d, 64), 128);
    assert.equal(bottleneckWidth(ARCHS.wide_resnet50_2, 64), 128);
    const conv2 = layerShapes(ARCHS.resnext50_32x4d, 224, 1000).find(
      (l) => l.name === 'layer1.0.conv2',
    )!;
    assert.equal(conv2.groups, 32);
  });

  it('the classifier scales with the class count', () => {
    const a = countParams(ARCHS.resnet50, 1000);
    const b = countParams(ARCHS.resnet50, 10);
    assert.equal(a - b, 990 * 2049);
  });

  it('the small family: cifar stem keeps 32 px through stage 1, sizes grow mini < resnext_mini < small', () => {
    for (const name of ['resnet_mini', 'resnet_small', 'resnext_mini'] as const) {
      const arch = ARCHS[name];
      assert.equal(arch.stem, 'cifar');
      const layers = layerShapes(arch, 32, 10);
      assert.equal(layers.find((l) => l.name === 'layer1.0.conv1')!.inSize, 32);
      assert.equal(layers.find((l) => l.name === 'conv1')!.kernel, 3);
      assert.equal(layers.at(-2)!.outSize, 4);
    }
    assert.equal(countParams(ARCHS.resnet_mini, 10), 308_826);
    assert.ok(countParams(ARCHS.resnet_small, 10) > countParams(ARCHS.resnet_mini, 10));
    assert.ok(countMacs(ARCHS.resnet_mini, 32, 10) < 20e6); // cheap enough for 2 CPU cores
  });

  it('getArch rejects an unknown name, listing the valid ones', () => {
    assert.throws(
      () => getArch('resnet51'),
      (e: unknown) => e instanceof InputError && e.issues[0]!.message.includes('resnet50'),
    );
    assert.equal(ARCH_NAMES.length, 12);
  });
});
