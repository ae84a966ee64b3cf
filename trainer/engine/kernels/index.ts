import { registerWasmConvBackprop } from './conv_backprop.js';

/** Registers every Ringmaster training kernel for the wasm backend (idempotent). */
export function registerWasmTrainingKernels(): void {
  registerWasmConvBackprop();
}
