/**
 * `tf.variableGrads` with a hook: the backward pass runs node by node over tfjs's tape, and
 * each variable's gradient is handed out the moment it is final (its last consumer in reverse
 * order has been differentiated), so the all-reduce of the last layers' gradients can start
 * while the first layers' are still being computed — DDP's bucketed overlap. tfjs has no
 * per-variable gradient hooks (`engine.gradients` backpropagates the whole tape in one
 * synchronous call), so this walks the tape itself, in the order and with the arithmetic of
 * tfjs's `backpropagateGradients` (the same kernels, the same accumulation `add(prev, dx)`):
 * the gradients are bit-identical to `tf.variableGrads`'. Between nodes it yields to the event
 * loop, which is when the ring's frames move on a backend whose kernels block the thread.
 *
 * The tape and its nodes are tfjs internals (Engine.state.activeTape, TapeNode); they are
 * stable across tfjs 4.x and checked here at run time: a change fails loudly, not silently.
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
}

export interface StagedGradsOptions {
  /**
   * Called once per variable, in the order the gradients become final (roughly reverse
   * layer order), with the variable's index in `vars` and its gradient, which the callee owns.
   */
  onGradient: (index: number, grad: tf.Tensor) => void;
  /** Yield to the event loop after this many tape nodes (and after each onGradient). */
  yieldEvery?: number;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function engineInternals(): EngineInternals {
  const e = tf.engine() as unknown as EngineInternals;
  if (typeof e.startTape !== 'function' || typeof e.endTape !== 'function' || !e.state) {
    throw new Error('tfjs engine internals changed: staged gradients need startTape/endTape');
  }
  return e;
}

/** The nodes on a path from `xs` to `y`, and per node the input names that come from `xs`. */
function pathNodes(
  tape: readonly TapeNode[],
  xs: readonly tf.Tensor[],
  y: tf.Tensor,
): { node: TapeNode; inputs: string[] }[] {
  const fromX = new Set(xs.map((x) => x.id));
  const forward: boolean[] = tape.map((node) => {
    const hit = Object.values(node.inputs).some((t) => fromX.has(t.id));
    if (hit) for (const o of node.outputs) fromX.add(o.id);
    return hit;
  });
  const toY = new Set([y.id]);
  const kept: { node: TapeNode; inputs: string[] }[] = [];
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (!forward[i] || !node.outputs.some((o) => toY.has(o.id))) continue;
    for (const t of Object.values(node.inputs)) toY.add(t.id);
    const inputs = Object.keys(node.inputs).filter((k) => fromX.has(node.inputs[k]!.id));
    kept.push({ node, inputs });
  }
  return kept.reverse();
}

/**
 * Runs `f` recording the tape, then differentiates the scalar it returns with respect to
 * `vars`, handing each gradient to `onGradient` as soon as it is final. Returns f's value
 * (the caller disposes it). Variables `f` does not depend on get no call.
 */
export async function stagedVariableGrads(
  f: () => tf.Scalar,
  vars: readonly tf.Variable[],
  opts: StagedGradsOptions,
): Promise<tf.Scalar> {
  const engine = engineInternals();
  if (engine.state.gradientDepth !== 0) {
    throw new Error('stagedVariableGrads cannot run inside another gradient computation');
  }
  let tape: TapeNode[];
  let y: tf.Scalar;
  engine.startTape();
  try {
    y = tf.tidy(f);
  } finally {
    tape = engine.state.activeTape ?? [];
    engine.endTape();
  }
  // Everything made during the backward pass is ours to dispose, except what we hand out.
  const made = new Set<tf.Tensor>();
  const handed = new Set<tf.Tensor>();
  try {
    const nodes = pathNodes(tape, vars, y);
    const varIndex = new Map(vars.map((v, i) => [v.id, i]));
    // A variable's gradient is final after the first node (in tape order) that reads it.
    const finalAt = new Map<number, number[]>();
    const seen = new Set<number>();
    nodes.forEach(({ node, inputs }, i) => {
      for (const name of inputs) {
        const id = node.inputs[name]!.id;
        const v = varIndex.get(id);
        if (v === undefined || seen.has(id)) continue;
        seen.add(id);
        finalAt.set(i, [...(finalAt.get(i) ?? []), v]);
      }
    });

    const grads = new Map<number, tf.Tensor>();
    const dy = tf.onesLike(y);
    made.add(dy);
    grads.set(y.id, dy);
    const every = Math.max(1, opts.yieldEvery ?? 16);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const { node, inputs } = nodes[i]!;
      if (!node.gradient) {
        throw new Error(`no gradient registered for ${node.kernelName}: cannot differentiate`);
      }
      const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
      // One tidy per node: zero dys made by the node's gradient wrapper are freed with it.
      const dxs = tf.tidy(() => {
        const fns = node.gradient!(dys);
        return inputs.map((name) => {
          const fn = fns[name];
          if (!fn) throw new Error(`the gradient of ${node.kernelName} has no input "${name}"`);
          return fn();
        });
      });
      inputs.forEach((name, k) => {
        const x = node.inputs[name]!;
        const dx = dxs[k]!;
        made.add(dx);
        const prev = grads.get(x.id);
        if (prev === undefined) grads.set(x.id, dx);
        else {
          // tfjs's accumulation: add(prev, dx), the previous sum freed at once.
          const sum = tf.add(prev, dx);
          made.add(sum);
          grads.set(x.id, sum);
          made.delete(prev);
          prev.dispose();
        }
      });
      const ready = finalAt.get(i);
      if (ready) {
        for (const v of ready) {
          const g = grads.get(vars[v]!.id)!;
          handed.add(g);
          opts.onGradient(v, g);
        }
        await yieldToLoop();
      } else if (i % every === 0) await yieldToLoop();
    }
    return y;
  } catch (err) {
    y.dispose();
    throw err;
  } finally {
    for (const t of made) if (!handed.has(t)) t.dispose();
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    if (engine.state.activeTape === tape) engine.state.activeTape = null;
  }
}
