import type { Command } from 'commander';

/** Adds the `synkti sim` command(s) to the program. (Being built: see the open issue.) */
export function registerSimCommand(_program: Command): void {
  // No commands yet.
}
