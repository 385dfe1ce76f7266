import type { Command } from 'commander';

/** Adds the `synkti pipeline` command(s) to the program. (Being built: see the open issue.) */
export function registerPipelineCommands(_program: Command): void {
  // No commands yet.
}
