import type { Command } from 'commander';

/** Adds the `synkti batch` command(s) to the program. (Being built: see the open issue.) */
export function registerBatchCommands(_program: Command): void {
  // No commands yet.
}
