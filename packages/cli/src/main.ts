#!/usr/bin/env node
import type { Command } from 'commander';
import { registerCommandGroups } from './commands/groups.ts';
import { addCoreCommands, baseProgram, runProgram } from './program.ts';

/** The whole CLI with every command group registered up front (tests inspect it). */
export function buildProgram(): Command {
  const program = addCoreCommands(baseProgram());
  registerCommandGroups(program);
  return program;
}

/** Runs the CLI with every group loaded (the `synkti` binary uses cli.ts, which loads groups on use). */
export async function run(argv: string[]): Promise<void> {
  await runProgram(buildProgram(), argv);
}

if (process.argv[1]?.endsWith('/cli/src/main.ts')) {
  await run(process.argv);
}
