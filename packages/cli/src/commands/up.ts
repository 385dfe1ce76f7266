import { randomUUID } from 'node:crypto';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { SynktiError, TAG_CLUSTER, TAG_ROLE, configGeneration, formatDuration, serializeCluster, type ClusterSpec } from '@synkti/core';
import type { ChaosSettings } from '@synkti/cloud';
import { newSlotTags } from '@synkti/agent/spot-ledger';
import { collectNodeReports, converged, progressState, type NodeReport } from '../agent-status.ts';
import { clusterInstances, openLocalFleet } from '../local-fleet.ts';
import { createNodeProgress } from '../output.ts';
import type { LaunchOptionValues } from '../worker/launch-options.ts';
import { describeChaos, renderNodeTable } from './status.ts';

export interface UpOptions {
  /** Nodes in the pool (overrides the pool's count). */
  nodes?: number | undefined;
  /** Which pool --nodes applies to. @default the only pool */
  pool?: string | undefined;
  /** How long to wait for every node to be ready and agree on membership. */
  timeoutMs: number;
  json: boolean;
  quiet?: boolean;
  /** Local cloud chaos: random spot interruptions. */
  chaos?: ChaosSettings | undefined;
  /**
   * aws: the launch flags of `synkti worker launch` (--image-id, --bucket, --sha256, ...);
   * each one not given is read from its SYNKTI_* variable in `env`. @default {} (all from env)
   */
  launch?: LaunchOptionValues | undefined;
  /** aws: environment for launch settings and the cluster secret. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  /** aws: an EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
  /** aws: how often EC2 is listed while waiting. @default 2000 */
  pollMs?: number | undefined;
}

export function desiredCounts(spec: ClusterSpec, options: Pick<UpOptions, 'nodes' | 'pool'>): Map<string, number> {
  const counts = new Map(Object.entries(spec.pools).map(([role, pool]) => [role, pool.count]));
  if (options.nodes !== undefined) {
    const roles = [...counts.keys()];
    const role = options.pool ?? (roles.length === 1 ? roles[0] : undefined);
    if (role === undefined) {
      throw new SynktiError('E_USAGE', `--nodes needs --pool when the cluster has several pools (${roles.join(', ')})`, {
        hint: `e.g. synkti up --pool ${roles[0]} --nodes ${options.nodes}`,
      });
    }
    if (!counts.has(role)) {
      throw new SynktiError('E_USAGE', `no pool named ${role}`, { hint: `pools in this cluster: ${roles.join(', ')}` });
    }
    counts.set(role, options.nodes);
  }
  return counts;
}

/**
 * `synkti up`: launch what is missing to reach each pool's count, wait, print the fleet,
 * return. The instances keep running after the CLI exits. On the local cloud it waits
 * until every agent is ready and all agree on membership; on aws (up-aws.ts) until EC2
 * lists every pool at its count, running.
 */
export async function up(
  spec: ClusterSpec,
  configFile: string,
  options: UpOptions,
): Promise<{ reports: NodeReport[]; launched: string[]; ok: boolean }> {
  if (spec.provider === 'aws') {
    const counts = desiredCounts(spec, options);
    if (options.chaos) {
      throw new SynktiError('E_USAGE', '--chaos-rate is for the local cloud; on aws, spot interruptions are real', {
        hint: 'leave out --chaos-rate (AWS FIS can inject spot interruptions on EC2)',
      });
    }
    const { upAws } = await import('./up-aws.ts');
    const quiet = options.quiet === true || options.json;
    const result = await upAws(spec, configFile, {
      counts,
      timeoutMs: options.timeoutMs,
      quiet,
      launch: options.launch,
      env: options.env,
      ec2Client: options.ec2Client,
      pollMs: options.pollMs,
    });
    if (!quiet) console.log(renderNodeTable(result.reports, { kind: 'aws' }));
    return result;
  }
  const fleet = openLocalFleet(spec, configFile);
  const progress = createNodeProgress(process.stderr, options.quiet === true || options.json);
  try {
    const counts = desiredCounts(spec, options);
    if (options.chaos) fleet.cloud.instances.setChaos(options.chaos);
    const existing = await clusterInstances(fleet);
    const userData = serializeCluster(spec);
    const launched: string[] = [];
    const runId = randomUUID().slice(0, 8);
    for (const [role, count] of counts) {
      const pool = spec.pools[role]!;
      const have = existing.filter((r) => r.tags[TAG_ROLE] === role).length;
      for (let i = have; i < count; i++) {
        const record = await fleet.cloud.instances.launch({
          // Each is a new slot of the pool: one move of credit for the agents' slot ledger.
          tags: { [TAG_CLUSTER]: spec.name, [TAG_ROLE]: role, ...newSlotTags(pool) },
          instanceType: pool.instanceType,
          lifecycle: i < pool.onDemandBase ? 'on-demand' : pool.lifecycle,
          userData,
          clientToken: `${spec.name}-${role}-${runId}-${i}`,
        });
        launched.push(record.id);
        progress.observe([{ id: record.id, state: 'launching' }], `launched ${role} ${i + 1 - have}/${count - have}`);
      }
    }
    const expectedTotal = [...counts.values()].reduce((a, b) => a + b, 0);
    const started = Date.now();
    let reports: NodeReport[] = [];
    let ok = false;
    while (Date.now() - started < options.timeoutMs) {
      const records = await clusterInstances(fleet);
      reports = await collectNodeReports(fleet, records);
      const ready = reports.filter((r) => r.status?.state === 'ready').length;
      ok = reports.length === expectedTotal && converged(reports);
      progress.observe(
        reports.map((r) => ({ id: r.record.id, state: progressState(r) })),
        `waiting for nodes: ${ready}/${expectedTotal} ready, membership ${converged(reports) ? 'agreed' : 'converging'} (${formatDuration(Date.now() - started)})`,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    progress.done(
      ok
        ? `${spec.name}: ${expectedTotal} node${expectedTotal === 1 ? '' : 's'} ready in ${formatDuration(Date.now() - started)}, all agree on membership`
        : `${spec.name}: not every node was ready after ${formatDuration(options.timeoutMs)}`,
    );
    // up never changes what running nodes serve: say so when the config now differs from them.
    const generation = configGeneration(spec);
    const behind = reports.filter((r) => r.status?.generation !== undefined && r.status.generation !== generation).length;
    if (behind > 0 && !options.json && !options.quiet) {
      console.error(
        `${behind} running node(s) serve another generation than the config's ${generation}: \`synkti deploy\` rolls them to it`,
      );
    }
    if (!options.json && !options.quiet) {
      console.log(renderNodeTable(reports));
      if (options.chaos) console.log(describeChaos(options.chaos));
    }
    return { reports, launched, ok };
  } finally {
    fleet.close();
  }
}
