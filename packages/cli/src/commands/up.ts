import { randomUUID } from 'node:crypto';
import { SynktiError, TAG_CLUSTER, TAG_ROLE, formatDuration, serializeCluster, type ClusterSpec } from '@synkti/core';
import type { ChaosSettings } from '@synkti/cloud';
import { collectNodeReports, converged, type NodeReport } from '../agent-status.ts';
import { clusterInstances, openLocalFleet } from '../local-fleet.ts';
import { createProgress } from '../output.ts';
import { renderNodeTable } from './status.ts';

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
}

export function desiredCounts(spec: ClusterSpec, options: Pick<UpOptions, 'nodes' | 'pool'>): Map<string, number> {
  const counts = new Map(Object.entries(spec.pools).map(([role, pool]) => [role, pool.count]));
  if (options.nodes !== undefined) {
    const roles = [...counts.keys()];
    const role = options.pool ?? (roles.length === 1 ? roles[0] : undefined);
    if (role === undefined) {
      throw new SynktiError('E_USAGE', `--nodes needs --pool when the cluster has several pools (${roles.join(', ')})`, { hint: `e.g. synkti up --pool ${roles[0]} --nodes ${options.nodes}` });
    }
    if (!counts.has(role)) {
      throw new SynktiError('E_USAGE', `no pool named ${role}`, { hint: `pools in this cluster: ${roles.join(', ')}` });
    }
    counts.set(role, options.nodes);
  }
  return counts;
}

/**
 * `synkti up`: launch what is missing to reach each pool's count on the local cloud, wait
 * until every agent is ready and all agree on membership, print the fleet, return.
 * The instances keep running after the CLI exits.
 */
export async function up(spec: ClusterSpec, configFile: string, options: UpOptions): Promise<{ reports: NodeReport[]; launched: string[]; ok: boolean }> {
  const fleet = openLocalFleet(spec, configFile);
  const progress = createProgress(process.stderr, options.quiet === true || options.json);
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
        progress.update(`launching ${role} ${i + 1}/${count}`);
        const record = await fleet.cloud.instances.launch({
          tags: { [TAG_CLUSTER]: spec.name, [TAG_ROLE]: role },
          instanceType: pool.instanceType,
          lifecycle: i < pool.onDemandBase ? 'on-demand' : pool.lifecycle,
          userData,
          clientToken: `${spec.name}-${role}-${runId}-${i}`,
        });
        launched.push(record.id);
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
      if (ok) break;
      progress.update(`waiting for nodes: ${ready}/${expectedTotal} ready, membership ${converged(reports) ? 'agreed' : 'converging'} (${formatDuration(Date.now() - started)})`);
      await new Promise((r) => setTimeout(r, 250));
    }
    progress.done(ok
      ? `${spec.name}: ${expectedTotal} node${expectedTotal === 1 ? '' : 's'} ready in ${formatDuration(Date.now() - started)}, all agree on membership`
      : `${spec.name}: not every node was ready after ${formatDuration(options.timeoutMs)}`);
    if (!options.json && !options.quiet) console.log(renderNodeTable(reports));
    return { reports, launched, ok };
  } finally {
    fleet.close();
  }
}
