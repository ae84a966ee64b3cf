/**
 * The torchvision state_dict an architecture has — names and PyTorch shapes — computed from
 * the layer list alone (no tensors), so a weights file can be checked against an architecture,
 * or its architecture recognised, before any model is built.
 */
import { ARCH_NAMES, getArch, layerShapes, type ResNetArch } from './arch.js';

/** name → PyTorch shape, in state_dict order. */
export function stateShapes(arch: ResNetArch, numClasses: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const l of layerShapes(arch, 224, numClasses)) {
    if (l.kind === 'conv') {
      out.set(`${l.name}.weight`, [l.outChannels, l.inChannels / l.groups, l.kernel, l.kernel]);
    } else if (l.kind === 'bn') {
      for (const p of ['weight', 'bias', 'running_mean', 'running_var'])
        out.set(`${l.name}.${p}`, [l.outChannels]);
      out.set(`${l.name}.num_batches_tracked`, []);
    } else {
      out.set(`${l.name}.weight`, [l.outChannels, l.inChannels]);
      out.set(`${l.name}.bias`, [l.outChannels]);
    }
  }
  return out;
}

/** The classifier's output count of a state_dict (fc.weight's rows), or undefined. */
export function classesOf(shapes: ReadonlyMap<string, readonly number[]>): number | undefined {
  const fc = shapes.get('fc.weight');
  return fc?.length === 2 ? fc[0] : undefined;
}

/** The first few differences between a state_dict and an architecture's (empty: it fits). */
export function stateMismatches(
  arch: ResNetArch,
  shapes: ReadonlyMap<string, readonly number[]>,
  limit = 5,
): string[] {
  const want = stateShapes(arch, classesOf(shapes) ?? 0);
  const out: string[] = [];
  for (const [name, shape] of want) {
    const got = shapes.get(name);
    if (got === undefined) out.push(`${name} missing`);
    else if (got.length !== shape.length || got.some((d, i) => d !== shape[i]))
      out.push(`${name} is [${got.join(', ')}], ${arch.name} has [${shape.join(', ')}]`);
    if (out.length >= limit) return out;
  }
  for (const name of shapes.keys()) {
    if (!want.has(name)) out.push(`${name} unexpected`);
    if (out.length >= limit) break;
  }
  return out;
}

/** Which of Ringmaster's architectures a state_dict is, by its names and shapes. */
export function recogniseArch(shapes: ReadonlyMap<string, readonly number[]>): string | undefined {
  return ARCH_NAMES.find((n) => stateMismatches(getArch(n), shapes, 1).length === 0);
}
