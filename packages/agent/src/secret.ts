import { readFileSync } from 'node:fs';
import { SynktiError } from '@synkti/core';

/**
 * The cluster secret, from SYNKTI_CLUSTER_SECRET or the file SYNKTI_CLUSTER_SECRET_FILE
 * points to. Never logged.
 */
export function readClusterSecret(env: NodeJS.ProcessEnv = process.env): string {
  const direct = env.SYNKTI_CLUSTER_SECRET?.trim();
  if (direct) return direct;
  const file = env.SYNKTI_CLUSTER_SECRET_FILE;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new SynktiError('E_SECRET', `cannot read the cluster secret file ${file}`, {
        cause: error,
        hint: 'check SYNKTI_CLUSTER_SECRET_FILE and the file permissions',
      });
    }
    if (text.length >= 16) return text;
    throw new SynktiError('E_SECRET', `the cluster secret in ${file} is shorter than 16 characters`, {
      hint: 'write a long random secret, e.g. `openssl rand -hex 32`',
    });
  }
  throw new SynktiError('E_SECRET', 'no cluster secret: set SYNKTI_CLUSTER_SECRET or SYNKTI_CLUSTER_SECRET_FILE', {
    hint: 'agents refuse to run their API unauthenticated',
  });
}
