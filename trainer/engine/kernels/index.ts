import { registerWasmConvBackprop } from './conv_backprop.js';
import { registerWasmMaxPoolGrad } from './max_pool_grad.js';
import { registerWasmChannelSums } from './channel_sums.js';

/** Registers every Ringmaster training kernel for the wasm backend (idempotent). */
export function registerWasmTrainingKernels(): void {
  registerWasmConvBackprop();
  registerWasmMaxPoolGrad();
  registerWasmChannelSums();
}
