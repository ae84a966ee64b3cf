export * from './types.js';
export { buildCrd, crdYaml, toStructuralSchema, PRINTER_COLUMNS } from './crd.js';
export {
  RecipeSchema,
  TrainingRecipeSpecSchema,
  TrainingRecipeStatusSchema,
  ConditionSchema,
  PHASES,
  type Recipe,
} from '../../trainer/recipe/schema.js';
export { parseTrainingRecipe, type ParsedTrainingRecipe } from '../../trainer/recipe/load.js';
