/**
 * What a local instance's metadata server answers, read afresh from the registry on
 * every request: a notice set by `preempt` from any process shows up at once.
 */
import { dirname, join } from 'node:path';
import { SynktiError, TAG_CLUSTER, TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD } from '@synkti/core';
import type { InstanceMetadata } from '../../types.ts';
import { IDENTITY_PATHS, cloudIdentitySigner } from '../../metadata/identity-document.ts';
import type { MetadataSource } from './metadata-server.ts';
import type { LocalRegistry } from './registry.ts';

export function createRegistryMetadataSource(registry: LocalRegistry, id: string, region: string): MetadataSource & InstanceMetadata {
  function row() {
    const found = registry.getInstance(id);
    if (!found) throw new SynktiError('E_INSTANCE_NOT_FOUND', `instance ${id} is not in the registry ${registry.path}`);
    return found;
  }
  // The local cloud's identity key (one per state directory, 0600): it signs each
  // instance's identity document as EC2 does with AWS's key (metadata/identity-document.ts).
  const signer = cloudIdentitySigner(join(dirname(registry.path), 'cloud-identity-key.pem'));
  function signedDocument(): { document: string; signature: string } {
    const r = row();
    const tags = registry.tagsOf(id);
    const port = (key: string): number | undefined => (tags[key] === undefined ? undefined : Number(tags[key]));
    return signer.sign({
      instanceId: r.id,
      privateIp: r.privateIp,
      region,
      availabilityZone: r.zone,
      instanceType: r.instanceType,
      pendingTime: new Date(r.launchedAt).toISOString(),
      // Locally every instance shares 127.0.0.1: its ports are what tell them apart, so they are signed in.
      synkti: {
        cluster: tags[TAG_CLUSTER] ?? '',
        ports: { agent: port(TAG_PORT_AGENT), router: port(TAG_PORT_ROUTER), workload: port(TAG_PORT_WORKLOAD) },
      },
    });
  }
  return {
    async otherPath(path: string) {
      if (path === IDENTITY_PATHS.cloudKey) return signer.publicKeyPem;
      if (path === IDENTITY_PATHS.document) return signedDocument().document;
      if (path === IDENTITY_PATHS.ed25519) return signedDocument().signature;
      return undefined;
    },
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
