/**
 * EC2's description of an instance, as our InstanceRecord. Instances we launch never
 * stop (spot interruption behaviour is terminate), so EC2's `stopping` and `stopped`,
 * which only a person can cause, count as leaving: `shutting-down`.
 */
import type { Instance, InstanceStateName } from '@aws-sdk/client-ec2';
import type { InstanceRecord, InstanceState } from '../../types.ts';

const EC2_TO_STATE: Record<string, InstanceState> = {
  pending: 'pending',
  running: 'running',
  'shutting-down': 'shutting-down',
  stopping: 'shutting-down',
  stopped: 'shutting-down',
  terminated: 'terminated',
};

/** EC2 state names to put in an `instance-state-name` filter for our states. */
export function ec2StateNames(states: readonly InstanceState[]): InstanceStateName[] {
  const names = new Set<InstanceStateName>();
  for (const state of states) {
    if (state === 'shutting-down') {
      names.add('shutting-down');
      names.add('stopping');
      names.add('stopped');
    } else {
      names.add(state);
    }
  }
  return [...names];
}

export function tagsOf(instance: Instance): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of instance.Tags ?? []) {
    if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  }
  return tags;
}

/** Ordering of list pages: launch time, then id. */
export function compareRecords(a: InstanceRecord, b: InstanceRecord): number {
  return a.launchedAt - b.launchedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function toInstanceRecord(instance: Instance): InstanceRecord {
  const launchTime = instance.LaunchTime;
  return {
    id: instance.InstanceId ?? '',
    state: EC2_TO_STATE[instance.State?.Name ?? ''] ?? 'pending',
    stateReason: instance.StateReason?.Code ?? undefined,
    privateIp: instance.PrivateIpAddress ?? '',
    instanceType: instance.InstanceType ?? '',
    zone: instance.Placement?.AvailabilityZone ?? '',
    // Anything that is not spot (capacity blocks, scheduled) is billed like on-demand.
    lifecycle: instance.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
    launchedAt: launchTime instanceof Date ? launchTime.getTime() : launchTime !== undefined ? new Date(launchTime).getTime() : 0,
    tags: tagsOf(instance),
  };
}
