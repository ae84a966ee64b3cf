/**
 * How a worker thread builds its per-image transform: plain JSON that can be posted. Either
 * the recipe's presets (trainer/data/transforms/presets.ts) from a TransformConfig, or any
 * module exporting a factory `(config) => ImageTransform` (tests, benchmarks, other data).
 */
import type { ImageTransform, TransformConfig } from './transforms/presets.js';

export type TransformSpec =
  | { readonly kind: 'preset'; readonly config: TransformConfig }
  | {
      readonly kind: 'module';
      readonly module: string;
      readonly factory: string;
      readonly config: unknown;
    };

export async function buildTransform(spec: TransformSpec): Promise<ImageTransform> {
  if (spec.kind === 'preset') {
    const { makeTransform } = await import('./transforms/presets.js');
    return makeTransform(spec.config);
  }
  const mod = (await import(spec.module)) as Record<string, unknown>;
  const factory = mod[spec.factory];
  if (typeof factory !== 'function') {
    throw new TypeError(`${spec.module} does not export a function ${spec.factory}`);
  }
  return await (factory as (c: unknown) => ImageTransform | Promise<ImageTransform>)(spec.config);
}
