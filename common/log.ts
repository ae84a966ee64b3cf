import { pino, type Logger } from 'pino';
import { ProcessEnv } from '../api/names.js';

/**
 * The one structured logger. Children bind context (recipe, rank, epoch, step).
 * JSON to stderr in pods; RINGMASTER_LOG_LEVEL sets the level (default info).
 */
export const log: Logger = pino(
  { name: 'ringmaster', level: process.env[ProcessEnv.logLevel] ?? 'info', base: undefined },
  pino.destination(2),
);

export type { Logger };
