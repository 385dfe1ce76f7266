import type { ClusterSpec } from './cluster-spec.ts';

// Writing a cluster config needs no zod (reading it back, deserializeCluster, does): kept
// apart so a CLI command that launches nodes, or only loads @synkti/cloud, does not load
// zod's chunk for it (config-exports.ts lists it, which gives it its own bundle chunk).

/** The envelope's format: a reader refuses any other. */
export const CLUSTER_FORMAT = 'synkti-cluster/v1';

export function serializeCluster(spec: ClusterSpec): string {
  const { router, ...strict } = spec;
  // Without router settings the text is what it always was (byte for byte).
  return JSON.stringify({ format: CLUSTER_FORMAT, spec: strict, ...(router && Object.keys(router).length > 0 ? { tuning: { router } } : {}) });
}
