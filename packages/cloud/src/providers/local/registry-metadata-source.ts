/**
 * What a local instance's metadata server answers, read afresh from the registry on
 * every request: a notice set by `preempt` from any process shows up at once.
 */
import { SynktiError } from '@synkti/core';
import type { InstanceMetadata } from '../../types.ts';
import type { MetadataSource } from './metadata-server.ts';
import type { LocalRegistry } from './registry.ts';

export function createRegistryMetadataSource(registry: LocalRegistry, id: string, region: string): MetadataSource & InstanceMetadata {
  function row() {
    const found = registry.getInstance(id);
    if (!found) throw new SynktiError('E_INSTANCE_NOT_FOUND', `instance ${id} is not in the registry ${registry.path}`);
    return found;
  }
  return {
    async identity() {
      const r = row();
      return { instanceId: r.id, instanceType: r.instanceType, region, zone: r.zone, privateIp: r.privateIp };
    },
    async tags() {
      return registry.tagsOf(id);
    },
    async userData() {
      return row().userData ?? undefined;
    },
    async interruptionNotice() {
      const r = row();
      return r.noticeTime === null || r.noticeAction === null ? null : { action: r.noticeAction, time: r.noticeTime };
    },
    async rebalanceRecommendation() {
      const r = row();
      return r.rebalanceTime === null ? null : { noticeTime: r.rebalanceTime };
    },
  };
}
