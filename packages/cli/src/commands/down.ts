import type { EC2Client } from '@aws-sdk/client-ec2';
import { SynktiError, formatDuration, type ClusterSpec } from '@synkti/core';
import { resolve } from 'node:path';
import { listAllInstances, localCloudProcesses, type LocalCloud } from '@synkti/cloud';
import { LIVE_STATES, openFleet } from '../fleet/fleet-access.ts';
import { deleteClusterBucket, listClusterBuckets, type BucketEntry } from '../fleet/cluster-buckets.ts';
import { createNodeProgress } from '../output.ts';

export interface DownOptions {
  /** Kill at once (SIGKILL; local provider) instead of letting agents drain and leave. */
  force: boolean;
  timeoutMs: number;
  quiet?: boolean;
  /**
   * Also delete the cluster's buckets, once every instance is gone. Protected buckets are
   * refused unless also named in `deleteProtectedBuckets`.
   * @default false: buckets are kept
   */
  deleteBuckets?: boolean | undefined;
  /**
   * Protected buckets to delete as well: each named exactly (the operator says it twice:
   * `--delete-buckets` and `--delete-protected-buckets <name>`).
   * @default none
   */
  deleteProtectedBuckets?: string[] | undefined;
  /** An EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
}

export interface DownBuckets {
  deleted: string[];
  /** Left in place because --delete-buckets was not given. */
  kept: string[];
  /** Protected buckets --delete-buckets did not delete (not named in --delete-protected-buckets). */
  refusedProtected: string[];
}

export interface DownResult {
  terminated: string[];
  remaining: string[];
  buckets: DownBuckets;
}

/** How to delete the protected buckets `down` refused, named exactly. */
export function protectedBucketHint(names: string[]): string {
  return `synkti down --delete-buckets ${names.map((n) => `--delete-protected-buckets ${n}`).join(' ')}`;
}

/** Checks the bucket flags against the buckets that exist, before anything is stopped. */
function checkBucketFlags(spec: ClusterSpec, buckets: BucketEntry[] | undefined, options: DownOptions): void {
  const named = options.deleteProtectedBuckets ?? [];
  if (named.length > 0 && !options.deleteBuckets) {
    throw new SynktiError('E_USAGE', `--delete-protected-buckets ${named.join(', ')} needs --delete-buckets too`, {
      hint: `a protected bucket is deleted only when told twice: ${protectedBucketHint(named)}`,
    });
  }
  if (!options.deleteBuckets) return;
  if (buckets === undefined) {
    throw new SynktiError('E_USAGE', `--delete-buckets: the buckets of an ${spec.provider} cluster belong to its infrastructure stack`, {
      hint: 'delete them with `synkti infra destroy --stack <stack>` (the models bucket is protected and kept there)',
    });
  }
  for (const name of named) {
    const bucket = buckets.find((b) => b.name === name);
    if (!bucket) {
      throw new SynktiError('E_USAGE', `--delete-protected-buckets ${name}: cluster ${spec.name} has no bucket named ${name}`, {
        hint: buckets.length
          ? `its buckets: ${buckets.map((b) => `${b.name}${b.protected ? ' (protected)' : ''}`).join(', ')}`
          : 'it has no buckets',
      });
    }
    if (!bucket.protected) {
      throw new SynktiError('E_USAGE', `--delete-protected-buckets ${name}: bucket ${name} is not protected`, {
        hint: '--delete-buckets alone deletes it',
      });
    }
  }
}

/**
 * Every instance is terminated, yet a process of the fleet may have outlived its machine
 * (a workload re-parented to init when its host was SIGKILLed): end what still carries the
 * fleet's state directory (an instance host's --state-dir, or the mark in its environment),
 * except processes of instances the registry still lists as live.
 */
async function endStrayLocalProcesses(cloud: LocalCloud): Promise<void> {
  const live = new Set((await listAllInstances(cloud.instances, { states: LIVE_STATES })).map((r) => r.id));
  const stateDir = resolve(cloud.instances.stateDir);
  const strays = localCloudProcesses(stateDir, { exceptInstances: live });
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 5000;
  while (localCloudProcesses(stateDir, { exceptInstances: live }).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 25));
}

/**
 * `synkti down`: terminate every instance of the cluster (by its SynktiCluster tag) and
 * wait until each is gone. Graceful by default (agents get SIGTERM, drain, leave the fleet
 * and untag themselves). Buckets are kept unless `deleteBuckets`; protected ones need
 * their name in `deleteProtectedBuckets` too.
 */
export async function down(spec: ClusterSpec, configFile: string, options: DownOptions): Promise<DownResult> {
  const fleet = openFleet(spec, { configFile, ec2Client: options.ec2Client });
  const progress = createNodeProgress(process.stderr, options.quiet === true);
  const store = fleet.local?.cloud.objects;
  try {
    const bucketsBefore = store ? await listClusterBuckets(store) : undefined;
    checkBucketFlags(spec, bucketsBefore, options);

    const records = await fleet.list();
    const ids = records.map((r) => r.id);
    let remaining: string[] = [];
    if (ids.length === 0) {
      progress.done(`${spec.name}: nothing running`);
    } else {
      if (options.force && fleet.local) await Promise.all(ids.map((id) => fleet.local!.cloud.instances.kill(id)));
      await fleet.instances.terminate(ids);
      const started = Date.now();
      remaining = ids;
      const pollMs = fleet.kind === 'local' ? 200 : 2000;
      // A line per node as it goes (stopping, then terminated): the count is never ahead of what happened.
      const observe = (): void =>
        progress.observe(
          ids.map((id) => ({
            id,
            state: remaining.includes(id) ? (options.force ? 'killed, stopping' : 'draining, stopping') : 'terminated',
          })),
          `stopping ${spec.name}: ${ids.length - remaining.length}/${ids.length} terminated (${formatDuration(Date.now() - started)})`,
        );
      observe();
      while (remaining.length > 0 && Date.now() - started < options.timeoutMs) {
        const page = await listAllInstances(fleet.instances, { ids, states: LIVE_STATES });
        remaining = page.map((r) => r.id);
        observe();
        if (remaining.length === 0) break;
        await new Promise((r) => setTimeout(r, pollMs));
      }
      if (remaining.length === 0 && fleet.local) await endStrayLocalProcesses(fleet.local.cloud);
      const leftTagged = fleet.kind === 'local' ? await fleet.list({ all: true }) : [];
      progress.done(
        remaining.length === 0
          ? `${spec.name}: ${ids.length} instance${ids.length === 1 ? '' : 's'} terminated in ${formatDuration(Date.now() - started)}${leftTagged.length ? `, ${leftTagged.length} still tagged` : ''}`
          : `${spec.name}: ${remaining.length} instance(s) still stopping after ${formatDuration(options.timeoutMs)}: ${remaining.join(', ')} (retry with --force)`,
      );
    }

    const buckets: DownBuckets = { deleted: [], kept: [], refusedProtected: [] };
    if (store && bucketsBefore && bucketsBefore.length > 0) {
      if (!options.deleteBuckets) {
        buckets.kept = bucketsBefore.map((b) => b.name);
        progress.done(
          `${spec.name}: kept ${buckets.kept.length} bucket${buckets.kept.length === 1 ? '' : 's'} (${buckets.kept.join(', ')}); \`synkti down --delete-buckets\` deletes the unprotected ones`,
        );
      } else if (remaining.length > 0) {
        // Nodes still running may be writing checkpoints: never pull a bucket from under them.
        buckets.kept = bucketsBefore.map((b) => b.name);
        progress.done(`${spec.name}: buckets not deleted while instances are still stopping`);
      } else {
        const confirmed = new Set(options.deleteProtectedBuckets ?? []);
        for (const bucket of await listClusterBuckets(store)) {
          if (bucket.protected && !confirmed.has(bucket.name)) {
            buckets.refusedProtected.push(bucket.name);
            continue;
          }
          await deleteClusterBucket(store, bucket, confirmed.has(bucket.name));
          buckets.deleted.push(bucket.name);
        }
        if (buckets.deleted.length)
          progress.done(`${spec.name}: deleted bucket${buckets.deleted.length === 1 ? '' : 's'} ${buckets.deleted.join(', ')}`);
      }
    }
    return { terminated: ids.filter((id) => !remaining.includes(id)), remaining, buckets };
  } finally {
    fleet.close();
  }
}

/** The refusal message for protected buckets, naming each and how to delete it. */
export function describeRefusedBuckets(cluster: string, names: string[]): string {
  return (
    `synkti: ${cluster}: refused to delete protected bucket${names.length === 1 ? '' : 's'} ${names.join(', ')} (kept: ${names.length === 1 ? 'it holds' : 'they hold'} data that outlives the fleet, such as models)\n` +
    `  hint: to delete ${names.length === 1 ? 'it' : 'them'} too, name each one again: ${protectedBucketHint(names)}`
  );
}
