/**
 * `--weights` as `predict` and `eval` take it: a weights directory or .safetensors file, or a
 * registry name (`--weights resnet50.IMAGENET1K_V2 --registry URI`, or the registry in
 * RINGMASTER_WEIGHTS_REGISTRY). Registry weights come with their entry's architecture,
 * categories and eval transforms, and their sha256 checked.
 */
import { existsSync } from 'node:fs';
import { ProcessEnv } from '../../api/names.js';
import { InputError, NotFoundError } from '../../common/errors.js';
import type { StorageOptions } from '../../common/storage/storage.js';
import { buildModel, openWeights, type OpenedWeights } from '../checkpoint/artifact.js';
import { getArch, type ResNetArch } from '../models/arch.js';
import { decodeSafetensors } from '../models/safetensors.js';
import { WeightsRegistry } from './registry.js';

export async function openRegistryWeights(
  name: string,
  registryUri: string,
  storage: StorageOptions = {},
): Promise<OpenedWeights> {
  const registry = WeightsRegistry.open(registryUri, storage);
  try {
    const { entry, weights, uri } = await registry.resolve(name);
    const file = `${name} (${uri}/model.safetensors)`;
    const arch = getArch(entry.arch);
    const { model, numClasses } = buildModel(decodeSafetensors(weights, file).tensors, arch, file);
    if (numClasses !== entry.numClasses) {
      model.dispose();
      throw new InputError(
        `${file} classifies ${numClasses} classes, its entry says ${entry.numClasses}`,
      );
    }
    return {
      file,
      metaPath: '',
      registry: { name, uri: registry.uri },
      meta: {
        arch: entry.arch,
        categories: entry.categories,
        ...(entry.source.ema !== undefined ? { ema: entry.source.ema } : {}),
        transforms: entry.transforms,
      },
      arch,
      numClasses,
      model,
      transforms: entry.transforms,
    };
  } finally {
    registry.close();
  }
}

export interface WeightsArg {
  weights: string;
  /** --registry: `weights` is a name in it. */
  registry?: string;
  /** The registry from RINGMASTER_WEIGHTS_REGISTRY (read at the CLI's edge). */
  defaultRegistry?: string;
  arch?: string | ResNetArch;
  storage?: StorageOptions;
}

/**
 * A name in `--registry`; else, with a default registry set, a name when no such local path
 * exists; else a local weights path.
 */
export async function openWeightsArg(a: WeightsArg): Promise<OpenedWeights> {
  const registry = a.registry ?? (existsSync(a.weights) ? undefined : a.defaultRegistry);
  if (registry === undefined) return openWeights(a.weights, a.arch ? { arch: a.arch } : {});
  if (a.arch !== undefined) {
    throw new InputError('--arch does not apply to registry weights', [
      { path: '--arch', message: `the entry of "${a.weights}" names its architecture` },
    ]);
  }
  try {
    return await openRegistryWeights(a.weights, registry, a.storage);
  } catch (err) {
    // Taken for a name only because no such path exists: say so, it may be a mistyped path.
    if (a.registry === undefined && err instanceof NotFoundError) {
      throw new NotFoundError(
        `${err.message} (${ProcessEnv.weightsRegistry}); nor is there a local path ${a.weights}`,
        { cause: err },
      );
    }
    throw err;
  }
}
