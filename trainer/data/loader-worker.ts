/** A transform worker thread: builds the transform once, then serves tasks from the pool. */
import { parentPort, workerData } from 'node:worker_threads';
import { buildTransform, type TransformSpec } from './transform-spec.js';
import { runTransformTask, type TransformTask } from './transform-task.js';

const port = parentPort!;
const spec = (workerData as { spec: TransformSpec }).spec;
const transform = await buildTransform(spec);
port.on('message', (msg: { id: number; task: TransformTask } | { close: true }) => {
  // Leaving on our own (rather than being terminated) never cuts libvips off mid-operation.
  if ('close' in msg) {
    port.close();
    return;
  }
  void runTransformTask(transform, msg.task).then((res) => {
    port.postMessage(
      { id: msg.id, res },
      res.ok ? res.data.map((d) => d.buffer as ArrayBuffer) : [],
    );
  });
});
port.postMessage({ ready: true });
