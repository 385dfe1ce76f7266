/**
 * A state pool's key prefix in the batch bucket, `<root><name>/`: the name and the root are
 * checked here, where a worker's config (flags, SYNKTI_STATE_POOLS) and the CLI's
 * `synkti batch pool` both meet them.
 */
import { SynktiError } from '@synkti/core';
import { BATCH_PREFIXES } from '@synkti/core/contracts';

/** A pool's name: also its directory in a worker's cache. */
const POOL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** `state-pools/<name>/` (under `root`, the stack's SYNKTI_STATE_POOLS_PREFIX). */
export function statePoolPrefix(name: string, root: string = BATCH_PREFIXES.statePools): string {
  if (!POOL_NAME.test(name) || name.includes('..')) {
    throw new SynktiError('E_USAGE', `state pool name "${name.slice(0, 100)}" is not allowed`, { hint: 'use 1-63 lower-case letters, digits, ".", "_" and "-", starting with a letter or digit (e.g. rosenbrock-data)' });
  }
  if (!root.endsWith('/') || root.startsWith('/') || root.includes('..')) {
    throw new SynktiError('E_USAGE', `state pools prefix "${root}" must be a relative key prefix ending with "/"`, { hint: `the stack's SYNKTI_STATE_POOLS_PREFIX is ${BATCH_PREFIXES.statePools}` });
  }
  return `${root}${name}/`;
}
