#!/usr/bin/env node
// Ringmaster ships its TypeScript sources and runs them through tsx (see docs/adr/0001).
import { register } from 'tsx/esm/api';

register();
await import('../trainer/cli/main.ts');
