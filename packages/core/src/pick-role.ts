import { SynktiError } from './errors.ts';
import type { ClusterSpec } from './cluster-spec.ts';

/** The pool a command acts on: the one named, or the only one. */
export function pickRole(spec: ClusterSpec, role: string | undefined): string {
  const roles = Object.keys(spec.pools);
  if (role === undefined) {
    if (roles.length === 1) return roles[0]!;
    throw new SynktiError('E_USAGE', `cluster ${spec.name} has several pools (${roles.join(', ')}): say which`, {
      hint: `e.g. --role ${roles[0]}`,
    });
  }
  if (!spec.pools[role])
    throw new SynktiError('E_USAGE', `no pool named ${role} in cluster ${spec.name}`, { hint: `pools: ${roles.join(', ')}` });
  return role;
}
