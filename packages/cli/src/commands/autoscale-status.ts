/**
 * The autoscaled pools as `synkti status` shows them: every node reports its own view of
 * each pool (current, desired, min..max, the decider, the last action); the fleet's answer
 * is the view with the latest action (highest epoch), the decider's own when tied.
 */
import { formatDuration } from '@synkti/core';
import type { AgentAutoscaleStatus } from '@synkti/core/contracts';
import type { NodeReport } from '../agent-status.ts';

/** One pool, merged from the nodes' reports. */
export function autoscalePools(reports: readonly NodeReport[]): AgentAutoscaleStatus[] {
  const best = new Map<string, { pool: AgentAutoscaleStatus; fromDecider: boolean }>();
  for (const report of reports) {
    for (const pool of report.status?.autoscale ?? []) {
      const fromDecider = pool.decider === report.record.id;
      const current = best.get(pool.pool);
      const epoch = pool.last?.epoch ?? -1;
      const currentEpoch = current?.pool.last?.epoch ?? -1;
      if (!current || epoch > currentEpoch || (epoch === currentEpoch && fromDecider && !current.fromDecider))
        best.set(pool.pool, { pool, fromDecider });
    }
  }
  return [...best.values()].map((b) => b.pool).sort((a, b) => (a.pool < b.pool ? -1 : 1));
}

/** Lines under the node table, one or two per autoscaled pool. */
export function autoscaleLines(pools: readonly AgentAutoscaleStatus[], now = Date.now()): string[] {
  return pools.flatMap((pool) => {
    const head = `autoscale ${pool.pool}: ${pool.current} live, desired ${pool.desired} (min ${pool.min}, max ${pool.max})${pool.decider ? `, decided by ${pool.decider}` : ''}`;
    const last = pool.last;
    if (!last) return [head, '  no scale action yet'];
    return [
      head,
      `  last: ${last.action} ${last.from} → ${last.desired}, ${formatDuration(Math.max(0, now - last.at))} ago (${last.reason})`,
    ];
  });
}
