/**
 * What training changes and a checkpoint keeps — torchvision's `model`, `model_ema` and
 * `optimizer`: the model, the EMA of its weights (with a second model to evaluate the averages
 * in) and SGD's momentum.
 */
import type { ResNetArch } from './models/arch.js';
import { createResNet, type ResNetModel } from './models/resnet.js';
import { emaDecay } from './optim/ema-decay.js';
import { ModelEma } from './optim/ema.js';
import { paramGroups, SGD } from './optim/sgd.js';
import type { Recipe } from '../api/schema.js';

export class TrainState {
  readonly model: ResNetModel;
  readonly sgd: SGD;
  /** The adjusted EMA decay (trainer/optim/ema-decay.ts); null when modelEma is off. */
  readonly emaDecay: number | null;
  readonly ema: ModelEma | null;
  private readonly emaModel: ResNetModel | null;

  constructor(arch: ResNetArch, numClasses: number, recipe: Readonly<Recipe>, worldSize: number) {
    this.model = createResNet(arch, { numClasses, seed: recipe.seed });
    this.emaDecay = emaDecay(recipe, worldSize);
    this.ema = this.emaDecay === null ? null : new ModelEma(this.emaDecay);
    this.emaModel = this.ema ? createResNet(arch, { numClasses, seed: recipe.seed }) : null;
    const model = this.model;
    this.sgd = new SGD(
      paramGroups(model.params.keys(), (n) => model.isNormParam(n), {
        weightDecay: recipe.weightDecay,
        normWeightDecay: recipe.normWeightDecay,
      }),
      { momentum: recipe.momentum },
    );
  }

  /** A model holding the EMA weights now, or null when there are none yet (or no EMA). */
  averaged(): ResNetModel | null {
    const { ema, emaModel } = this;
    if (!ema || !emaModel || ema.params.size === 0) return null;
    for (const [name, v] of ema.params) emaModel.params.get(name)!.assign(v);
    for (const [name, v] of ema.buffers) emaModel.buffers.get(name)!.assign(v);
    return emaModel;
  }

  /** The model the EMA state is restored into (its shapes and dtypes), null without EMA. */
  get emaTarget(): ResNetModel | null {
    return this.emaModel;
  }

  dispose(): void {
    this.model.dispose();
    this.emaModel?.dispose();
    this.ema?.dispose();
    this.sgd.dispose();
  }
}
