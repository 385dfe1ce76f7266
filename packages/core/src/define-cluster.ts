import type { ClusterInput } from './cluster-spec.ts';

/**
 * What `synkti.config.ts` exports: `export default defineCluster({...})`. It returns its
 * argument unchanged and exists for the editor's type checking; validation happens when
 * the config is loaded, with every bad field named.
 */
export function defineCluster(input: ClusterInput): ClusterInput {
  return input;
}
