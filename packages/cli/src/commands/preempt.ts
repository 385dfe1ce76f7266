import { SynktiError, formatDuration, type ClusterSpec } from '@synkti/core';
import { listAllInstances, type InterruptionNotice } from '@synkti/cloud';
import { openLocalFleet } from '../local-fleet.ts';

/**
 * `synkti preempt <id> [--in 30s]`: a real spot interruption on the local cloud. The
 * instance's metadata shows the notice (IMDSv2 `spot/instance-action`) at once, and the
 * instance is SIGKILLed when its time comes, as EC2 would.
 */
export async function preempt(
  spec: ClusterSpec,
  configFile: string,
  id: string,
  options: { inMs: number; rebalance: boolean },
): Promise<{ id: string; notice?: InterruptionNotice; rebalanceAt?: number }> {
  const fleet = openLocalFleet(spec, configFile);
  try {
    const running = await listAllInstances(fleet.cloud.instances, { states: ['pending', 'running'] });
    const matches = running.filter((r) => r.id === id || r.id.startsWith(id));
    if (matches.length === 0)
      throw new SynktiError('E_NOT_FOUND', `no running instance ${id} in cluster ${spec.name}`, {
        hint: knownNodesHint(running.map((r) => r.id)),
      });
    if (matches.length > 1) throw new SynktiError('E_USAGE', `${id} matches ${matches.length} instances`, { hint: 'give more of the id' });
    const target = matches[0]!.id;
    if (options.rebalance) {
      const { noticeTime } = await fleet.cloud.instances.recommendRebalance(target);
      return { id: target, rebalanceAt: noticeTime };
    }
    const notice = await fleet.cloud.instances.preempt(target, { noticeInMs: options.inMs });
    return { id: target, notice };
  } finally {
    fleet.close();
  }
}

/** The hint for an unknown node: the ids it could have been (a few), or that nothing runs. */
export function knownNodesHint(ids: string[]): string {
  if (ids.length === 0) return 'no node is running: start the fleet with `synkti up`';
  const shown = ids.slice(0, 5).join(', ');
  return `running: ${shown}${ids.length > 5 ? `, and ${ids.length - 5} more` : ''} (see \`synkti status\`)`;
}

export function describePreempt(result: Awaited<ReturnType<typeof preempt>>): string {
  if (result.notice)
    return `${result.id}: spot interruption notice raised; reclaimed in ${formatDuration(result.notice.time - Date.now())} (at ${new Date(result.notice.time).toISOString()})`;
  return `${result.id}: rebalance recommendation raised`;
}
