import { TAG_CLUSTER, formatDuration, type ClusterSpec } from '@synkti/core';
import { listAllInstances } from '@synkti/cloud';
import { clusterInstances, openLocalFleet } from '../local-fleet.ts';
import { createProgress } from '../output.ts';

export interface DownOptions {
  /** Kill at once (SIGKILL) instead of letting agents drain and leave. */
  force: boolean;
  timeoutMs: number;
  quiet?: boolean;
}

/**
 * `synkti down`: terminate every instance of the cluster and wait until each is gone.
 * Graceful by default (agents get SIGTERM, leave the fleet and untag themselves).
 */
export async function down(spec: ClusterSpec, configFile: string, options: DownOptions): Promise<{ terminated: string[]; remaining: string[] }> {
  const fleet = openLocalFleet(spec, configFile);
  const progress = createProgress(process.stderr, options.quiet === true);
  try {
    const records = await clusterInstances(fleet);
    const ids = records.map((r) => r.id);
    if (ids.length === 0) {
      progress.done(`${spec.name}: nothing running`);
      return { terminated: [], remaining: [] };
    }
    if (options.force) await Promise.all(ids.map((id) => fleet.cloud.instances.kill(id)));
    await fleet.cloud.instances.terminate(ids);
    const started = Date.now();
    let remaining = ids;
    while (remaining.length > 0 && Date.now() - started < options.timeoutMs) {
      const page = await listAllInstances(fleet.cloud.instances, { ids, states: ['pending', 'running', 'shutting-down'] });
      remaining = page.map((r) => r.id);
      if (remaining.length === 0) break;
      progress.update(`stopping ${spec.name}: ${ids.length - remaining.length}/${ids.length} terminated (${formatDuration(Date.now() - started)})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const leftTagged = await listAllInstances(fleet.cloud.instances, { tags: { [TAG_CLUSTER]: spec.name }, states: ['pending', 'running', 'shutting-down', 'terminated'] });
    progress.done(remaining.length === 0
      ? `${spec.name}: ${ids.length} instance${ids.length === 1 ? '' : 's'} terminated in ${formatDuration(Date.now() - started)}${leftTagged.length ? `, ${leftTagged.length} still tagged` : ''}`
      : `${spec.name}: ${remaining.length} instance(s) still stopping after ${formatDuration(options.timeoutMs)}: ${remaining.join(', ')} (retry with --force)`);
    return { terminated: ids.filter((id) => !remaining.includes(id)), remaining };
  } finally {
    fleet.close();
  }
}
