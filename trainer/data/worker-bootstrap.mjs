// Worker threads run TypeScript sources (ADR 0001): register tsx, then load the real entry.
// A plain .mjs because a worker cannot load a .ts entry before tsx is registered in it.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
