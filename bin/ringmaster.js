#!/usr/bin/env node
// Ringmaster ships its TypeScript sources and runs them through tsx (see docs/adr/0001).
import { register } from 'tsx/esm/api';

register();
// `ringmaster operator …` is the operator's own entry: the trainer's CLI never imports it.
if (process.argv[2] === 'operator') await import('../operator/main.ts');
else await import('../trainer/cli/main.ts');
