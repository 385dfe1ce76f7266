import type { Command } from 'commander';
import { registerBatchCommands } from './batch-command.ts';
import { registerBootstrapCommands } from './bootstrap-command.ts';
import { registerDashboardCommand } from './dashboard-command.ts';
import { registerDeployCommand } from './deploy.ts';
import { registerInfraCommands } from './infra-command.ts';
import { registerOpsCommands } from './ops-command.ts';
import { registerPipelineCommands } from './pipeline-command.ts';
import { registerSimCommand } from './sim-command.ts';
import { registerWorkerCommands } from './worker-command.ts';

/**
 * Command groups that live in their own files (one per area: operators' worker commands,
 * batch optimisation, pipelines, the simulator), so each can grow without touching main.ts.
 * Each `register…` adds its commands to the program and returns nothing.
 */
export function registerCommandGroups(program: Command): void {
  registerWorkerCommands(program);
  registerBatchCommands(program);
  registerPipelineCommands(program);
  registerDeployCommand(program);
  registerSimCommand(program);
  registerInfraCommands(program);
  registerOpsCommands(program);
  registerDashboardCommand(program);
  registerBootstrapCommands(program);
}
