import { validateCluster, type ClusterSpec } from './cluster-spec.ts';
import { readClusterExport, type LoadClusterConfigOptions } from './config-file.ts';

export { CONFIG_FILE_NAMES, missingImport, readClusterExport, type LoadClusterConfigOptions } from './config-file.ts';

/** Finds, imports and validates the cluster config. */
export async function loadClusterConfig(options: LoadClusterConfigOptions = {}): Promise<{ spec: ClusterSpec; file: string }> {
  const { exported, file } = await readClusterExport(options);
  return { spec: validateCluster(exported, file), file };
}
