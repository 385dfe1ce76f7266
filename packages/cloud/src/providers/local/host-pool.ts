/**
 * Host-per-namespace mode of the local cloud (root; tests and the partition demo): the
 * hosts instances may run on, each a network namespace with its own address. Saved in the
 * registry like the boot command, so every process that opens the cloud (an agent
 * launching a replacement from inside its own namespace) places instances the same way
 * the first boot did: a replacement gets a host of its own too.
 *
 * Inside its namespace an instance's metadata server listens where EC2's does,
 * http://169.254.169.254 (the harness puts that address on the namespace's own `lo`), so
 * the agent runs with its production default endpoint and no override.
 */
import { isIPv4 } from 'node:net';
import { SynktiError } from '@synkti/core';
import type { InstanceRow, LocalRegistry } from './registry.ts';

/** One host an instance may run on. */
export interface LocalHostPlacement {
  /** Network namespace its processes run in (`ip netns exec`). */
  namespace: string;
  /** Its private IP there. */
  privateIp: string;
}

/** Where a namespaced instance's metadata server listens, inside its namespace only (EC2's IMDS address). */
export const NAMESPACE_METADATA_ADDRESS = '169.254.169.254';
/** EC2's IMDS answers on port 80. */
export const NAMESPACE_METADATA_PORT = 80;
const KEY_HOSTS = 'hostPool';
const MAX_HOSTS = 1000;
const NAMESPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function poolError(message: string, hint: string): SynktiError {
  return new SynktiError('E_LOCAL_CLOUD_OPTIONS', message, { hint });
}

/** Checks a pool: 1..1000 hosts, namespace names `ip netns` accepts, distinct IPv4 addresses. */
export function validateHostPool(value: unknown): LocalHostPlacement[] {
  const example = "e.g. hosts: [{ namespace: 'snf7n0', privateIp: '10.231.7.10' }] (createNetnsHosts makes them)";
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_HOSTS) {
    throw poolError(`hosts must be an array of 1 to ${MAX_HOSTS} hosts`, example);
  }
  const namespaces = new Set<string>();
  const addresses = new Set<string>();
  return value.map((entry: unknown, i) => {
    const { namespace, privateIp } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    if (typeof namespace !== 'string' || !NAMESPACE_NAME.test(namespace)) {
      throw poolError(
        `hosts[${i}].namespace must be a network namespace name (letters, digits, _ . -; at most 64), got ${JSON.stringify(namespace)}`,
        example,
      );
    }
    if (typeof privateIp !== 'string' || !isIPv4(privateIp) || privateIp.startsWith('127.')) {
      throw poolError(
        `hosts[${i}].privateIp must be the namespace's own IPv4 address (not loopback), got ${JSON.stringify(privateIp)}`,
        example,
      );
    }
    if (namespaces.has(namespace) || addresses.has(privateIp)) {
      throw poolError(`hosts[${i}] repeats namespace ${namespace} or address ${privateIp}`, 'each host is one namespace with one address');
    }
    namespaces.add(namespace);
    addresses.add(privateIp);
    return { namespace, privateIp };
  });
}

export function saveHostPool(registry: LocalRegistry, hosts: LocalHostPlacement[]): void {
  registry.setMeta(KEY_HOSTS, JSON.stringify(validateHostPool(hosts)));
}

/** The saved pool, or undefined in loopback mode. */
export function loadHostPool(registry: LocalRegistry): LocalHostPlacement[] | undefined {
  const saved = registry.getMeta(KEY_HOSTS);
  return saved === undefined ? undefined : validateHostPool(JSON.parse(saved));
}

/**
 * The host for a new instance: one no live (pending, running, shutting-down) instance is
 * on, the least used first (a fresh address before a dead instance's, as EC2 rarely hands
 * an address straight back), then in pool order. Undefined when every host is taken.
 */
export function pickHost(pool: LocalHostPlacement[], rows: Pick<InstanceRow, 'privateIp' | 'state'>[]): LocalHostPlacement | undefined {
  const uses = new Map<string, number>();
  const taken = new Set<string>();
  for (const row of rows) {
    uses.set(row.privateIp, (uses.get(row.privateIp) ?? 0) + 1);
    if (row.state !== 'terminated') taken.add(row.privateIp);
  }
  let best: LocalHostPlacement | undefined;
  for (const host of pool) {
    if (taken.has(host.privateIp)) continue;
    if (best === undefined || (uses.get(host.privateIp) ?? 0) < (uses.get(best.privateIp) ?? 0)) best = host;
  }
  return best;
}
