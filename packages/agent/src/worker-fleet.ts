/**
 * The operator's worker actions, on any InstanceProvider: launch N workers of a pool
 * (tags set at launch), list the cluster's instances, terminate some of them. Only
 * instances tagged with this cluster are ever listed or terminated.
 */
import { randomBytes } from 'node:crypto';
import { SynktiError, TAG_CLUSTER, TAG_ROLE, pickRole, type ClusterSpec } from '@synkti/core';
import { listAllInstances, type InstanceProvider, type InstanceRecord, type InstanceState } from '@synkti/cloud';
import { newSlotTags } from '@synkti/core/spot-ledger';

export interface LaunchWorkersOptions {
  /** How many instances to launch. @default 1 */
  count?: number | undefined;
  /** The pool (SynktiRole) they join. @default the cluster's only pool */
  role?: string | undefined;
  /** @default the pool's lifecycle */
  lifecycle?: 'spot' | 'on-demand' | undefined;
  /** User data every instance boots with. */
  userData: string;
  /** Told after each launch (progress). */
  onLaunched?: ((record: InstanceRecord, index: number, count: number) => void) | undefined;
}

const LIVE_STATES: InstanceState[] = ['pending', 'running', 'shutting-down'];
const ALL_STATES: InstanceState[] = [...LIVE_STATES, 'terminated'];

/**
 * Launches `count` workers one by one (each its own idempotency token, so a retried
 * call never launches twice). Returns what was launched; on a failure, the error says
 * which were launched before it.
 */
export async function launchWorkers(
  provider: InstanceProvider,
  spec: ClusterSpec,
  options: LaunchWorkersOptions,
): Promise<InstanceRecord[]> {
  const count = options.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new SynktiError('E_USAGE', `count must be a whole number from 1 to 1000, not ${count}`, { hint: 'launch more in several calls' });
  }
  const role = pickRole(spec, options.role);
  const pool = spec.pools[role]!;
  const batch = randomBytes(6).toString('hex');
  const launched: InstanceRecord[] = [];
  for (let i = 0; i < count; i++) {
    try {
      const record = await provider.launch({
        // Each is a new slot of the pool: one move of credit for the agents' slot ledger.
        tags: { [TAG_CLUSTER]: spec.name, [TAG_ROLE]: role, ...newSlotTags(pool) },
        instanceType: pool.instanceType,
        lifecycle: options.lifecycle ?? pool.lifecycle,
        userData: options.userData,
        clientToken: `synkti-${batch}-${i}`,
      });
      launched.push(record);
      options.onLaunched?.(record, i, count);
    } catch (error) {
      if (launched.length === 0) throw error;
      const reason = error instanceof SynktiError ? error.message : String((error as Error)?.message ?? error);
      throw new SynktiError(
        'E_LAUNCH_PARTIAL',
        `launched ${launched.length} of ${count} (${launched.map((r) => r.id).join(', ')}), then: ${reason}`,
        {
          cause: error,
          hint: error instanceof SynktiError && error.hint ? error.hint : 'run `synkti worker list` to see the fleet, then launch the rest',
        },
      );
    }
  }
  return launched;
}

export interface ListWorkersOptions {
  /** Only this pool. @default every pool */
  role?: string | undefined;
  /** Include terminated instances. @default false */
  all?: boolean | undefined;
}

/** The cluster's instances, oldest first. */
export async function listWorkers(
  provider: InstanceProvider,
  spec: ClusterSpec,
  options: ListWorkersOptions = {},
): Promise<InstanceRecord[]> {
  const tags: Record<string, string> = { [TAG_CLUSTER]: spec.name };
  if (options.role !== undefined) tags[TAG_ROLE] = pickRole(spec, options.role);
  const records = await listAllInstances(provider, { tags, states: options.all ? ALL_STATES : LIVE_STATES });
  return records.sort((a, b) => a.launchedAt - b.launchedAt || a.id.localeCompare(b.id));
}

/**
 * Resolves ids (or unique prefixes) against the cluster's live instances: an id that is
 * not this cluster's is refused, so a typo cannot terminate someone else's machine.
 */
export function resolveWorkerIds(records: InstanceRecord[], wanted: string[], cluster: string): string[] {
  if (wanted.length === 0)
    throw new SynktiError('E_USAGE', 'no instance ids given', {
      hint: 'e.g. synkti worker terminate i-0123456789abcdef0 (see `synkti worker list`)',
    });
  const ids = new Set<string>();
  for (const want of wanted) {
    const exact = records.find((r) => r.id === want);
    const matches = exact ? [exact] : records.filter((r) => r.id.startsWith(want));
    if (matches.length === 0) {
      throw new SynktiError('E_NOT_FOUND', `no running instance ${want} in cluster ${cluster}`, {
        hint: 'see `synkti worker list` for the ids of this cluster',
      });
    }
    if (matches.length > 1) {
      throw new SynktiError('E_USAGE', `${want} matches ${matches.length} instances (${matches.map((r) => r.id).join(', ')})`, {
        hint: 'give more of the id',
      });
    }
    ids.add(matches[0]!.id);
  }
  return [...ids];
}

/** Terminates instances of this cluster (begins termination; agents drain on the way out). */
export async function terminateWorkers(provider: InstanceProvider, spec: ClusterSpec, wanted: string[]): Promise<string[]> {
  const records = await listWorkers(provider, spec);
  const ids = resolveWorkerIds(records, wanted, spec.name);
  await provider.terminate(ids);
  return ids;
}
