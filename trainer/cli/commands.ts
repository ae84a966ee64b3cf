import type { Command } from 'commander';

/** Each subcommand lives in its own file and registers itself here (one line each). */
export const commands: Array<(program: Command) => void> = [];
