/**
 * `synkti deploy`: roll a running fleet to the config's workload/model, one node at a time,
 * with no request lost (rollout/run-rollout.ts). `synkti up` never touches running nodes;
 * deploy is the command that changes what they serve.
 */
import type { Command } from 'commander';
import { loadClusterConfig, type ClusterSpec } from '@synkti/core';
import { EXIT } from '../exit-codes.ts';
import { durationOption, wholeNumberOption } from '../option-parsers.ts';
import { addLaunchOptions, launchSettingsFrom, type LaunchOptionValues } from '../worker/launch-options.ts';

export interface DeployOptions {
  /** Only this pool. @default every pool of the config, one after the other */
  pool?: string | undefined;
  /** How long a new node may take to serve. @default the workload's startupTimeout + 60 s */
  readyTimeoutMs?: number | undefined;
  /** The pool's node count during the rollout. @default the pool's count in the config; an autoscaled pool's live size at the start */
  count?: number | undefined;
  /** @default 500 */
  pollMs?: number | undefined;
  /** aws: the launch flags of `synkti worker launch`, each falling back to its SYNKTI_* variable. @default {} */
  launch?: LaunchOptionValues | undefined;
  /** @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  onProgress?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface DeployResult {
  cluster: string;
  /** One per pool rolled, in order; the first rolled back ends the deploy. */
  pools: import('../rollout/run-rollout.ts').RolloutResult[];
  /** True when a pool rolled back (exit 3). */
  rolledBack: boolean;
}

/** Roll each pool (or the one named) of the running fleet to `spec`'s generation. */
export async function deploy(spec: ClusterSpec, configFile: string, options: DeployOptions = {}): Promise<DeployResult> {
  const { openFleet } = await import('../fleet/fleet-access.ts');
  const { checkPool } = await import('./scale.ts');
  const { runRollout } = await import('../rollout/run-rollout.ts');
  const env = options.env ?? process.env;
  const pools = options.pool === undefined ? Object.keys(spec.pools) : [checkPool(spec, options.pool)];
  const launch = launchSettingsFrom(options.launch ?? {}, env);
  const fleet = openFleet(spec, { configFile, env, userData: launch.userData, aws: launch.aws });
  const results: DeployResult['pools'] = [];
  try {
    for (const pool of pools) {
      const result = await runRollout(fleet, {
        pool,
        count: options.count,
        readyTimeoutMs: options.readyTimeoutMs,
        pollMs: options.pollMs,
        onProgress: options.onProgress,
        signal: options.signal,
      });
      results.push(result);
      if (result.outcome === 'rolled-back') break;
    }
  } finally {
    fleet.close();
  }
  return { cluster: spec.name, pools: results, rolledBack: results.some((r) => r.outcome === 'rolled-back') };
}

export function describeDeploy(result: DeployResult): string {
  const lines: string[] = [];
  for (const pool of result.pools) {
    const gens = [...new Set(Object.values(pool.after))];
    lines.push(
      `${result.cluster}/${pool.pool}: ${pool.outcome} (generation ${pool.generation}) in ${Math.round(pool.tookMs / 100) / 10} s`,
    );
    if (pool.surged.length) lines.push(`  surged:   ${pool.surged.join(', ')}`);
    if (pool.drained.length) lines.push(`  drained:  ${pool.drained.join(', ')}`);
    if (pool.removed.length) lines.push(`  removed:  ${pool.removed.join(', ')} (never served)`);
    if (pool.rollback)
      lines.push(
        `  rollback: back to ${pool.rollback.generation}: surged ${pool.rollback.surged.join(', ') || '-'}, drained ${pool.rollback.drained.join(', ') || '-'} (${pool.rollback.outcome})`,
      );
    lines.push(`  serving:  ${Object.keys(pool.after).length} node(s) on ${gens.join(', ') || '-'}`);
  }
  return lines.join('\n');
}

export function registerDeployCommand(program: Command): void {
  addLaunchOptions(
    program
      .command('deploy')
      .description(
        "roll the running fleet to the config's workload/model: surge a new node, wait until it serves, drain an old one, repeat; rolls back a generation that never serves",
      )
      .option('--pool <pool>', 'only this pool (default: every pool, one after the other)')
      .option(
        '--ready-timeout <duration>',
        "how long a new node may take to serve before the rollout stops and rolls back (default: the workload's startupTimeout + 60s)",
        durationOption({ positive: true }),
      )
      .option(
        '--count <n>',
        "nodes the pool serves with during the rollout (default: the pool's count in the config; with autoscale, its size at the start)",
        wholeNumberOption(1, 1000),
      )
      .option('--json', 'print the result as JSON (progress lines stay on stderr)', false),
  )
    .addHelpText(
      'after',
      `
Each node runs a config generation: a hash of the workload and model it boots with
(\`synkti status\` shows it). Deploy moves a pool to the generation of the config file:
  1. every live node is told the pool's desired config, so a node lost meanwhile is
     replaced with the new generation, by whichever agent replaces it;
  2. one node of the new generation is launched (a surge: the pool runs count + 1);
  3. once it serves (agent ready, router health 200, every peer routes to it), one old
     node is drained as a scale-in drains it: its requests finish, then it leaves;
  4. repeat until every node runs the new generation.
Routers send requests only to ready nodes, so a node of a generation that does not
serve never gets one. A new node not serving within --ready-timeout stops the rollout:
the new nodes that never served are terminated, nodes already moved are moved back the
same way, and replacements go back to each node's own config; old nodes are drained only
after a new one serves, so the pool keeps its count. Nothing is kept on this machine: run deploy again and it continues from what the
fleet runs (it is also how to resume after Ctrl-C).
On aws, new nodes take the launch flags of \`synkti worker launch\` (above) or their
SYNKTI_* variables, and the agents must be reachable from here (status, readiness).
Exit codes: 0 rolled out (or nothing to do), 2 bad pool or flag, 3 rolled back (the new
generation did not serve in time), 1 anything else.`,
    )
    .action(
      async (options: LaunchOptionValues & { pool?: string; readyTimeout?: number; count?: number; json: boolean }, command: Command) => {
        const { config } = command.optsWithGlobals<{ config?: string }>();
        const { spec, file } = await loadClusterConfig({ file: config, cwd: process.cwd() });
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        const result = await deploy(spec, file, {
          pool: options.pool,
          readyTimeoutMs: options.readyTimeout,
          count: options.count,
          launch: options,
          onProgress: (line) => process.stderr.write(`${line}\n`),
          signal: controller.signal,
        });
        console.log(options.json ? JSON.stringify(result, null, 2) : describeDeploy(result));
        if (result.rolledBack) process.exitCode = EXIT.timeout;
      },
    );
}
