import { readFileSync } from 'node:fs';
import { SynktiError } from '@synkti/core';

/**
 * The cluster config: the file SYNKTI_CLUSTER_CONFIG_FILE names (on EC2 the boot script
 * writes /etc/synkti/cluster.json and the user data is that script), else the user data
 * itself (local instances carry the config as their user data).
 */
export function readClusterConfig(userData: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const file = env.SYNKTI_CLUSTER_CONFIG_FILE;
  if (file) {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new SynktiError('E_AGENT_CONFIG', `cannot read the cluster config ${file}`, {
        cause: error,
        hint: 'check SYNKTI_CLUSTER_CONFIG_FILE (the boot script writes /etc/synkti/cluster.json)',
      });
    }
  }
  if (!userData) {
    throw new SynktiError('E_AGENT_CONFIG', 'this instance has no user data with the cluster config', {
      hint: 'launch workers with `synkti up` or `synkti worker launch`',
    });
  }
  return userData;
}
