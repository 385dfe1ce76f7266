import type { InstanceMetadata, InstanceRecord } from '@synkti/cloud';

/**
 * Instance metadata as the cloud would serve it to `record`'s own node (region `local`, no
 * user data, no notice): its identity and its tags come from the cloud's record, never from
 * a peer. Reads the record on every call, so a test that changes its tags is seen.
 */
export function metadataOfRecord(record: InstanceRecord): InstanceMetadata {
  return {
    identity: async () => ({
      instanceId: record.id,
      instanceType: record.instanceType,
      region: 'local',
      zone: record.zone,
      privateIp: record.privateIp,
    }),
    tags: async () => ({ ...record.tags }),
    userData: async () => undefined,
    interruptionNotice: async () => null,
    rebalanceRecommendation: async () => null,
  };
}
