import type { Command } from 'commander';

/** Adds the `synkti worker` command(s) to the program. (Being built: see the open issue.) */
export function registerWorkerCommands(_program: Command): void {
  // No commands yet.
}
