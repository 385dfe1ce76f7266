/**
 * A state pool's key prefix in the batch bucket, `<root><name>/`: the name and the root are
 * checked here, where a worker's config (flags, SYNKTI_STATE_POOLS) and the CLI's
 * `synkti batch pool` both meet them.
 */
import { SynktiError } from '@synkti/core';
import { BATCH_PREFIXES, statePoolNameProblem } from '@synkti/core/contracts';

/** `state-pools/<name>/` (under `root`, the stack's SYNKTI_STATE_POOLS_PREFIX). */
export function statePoolPrefix(name: string, root: string = BATCH_PREFIXES.statePools): string {
  const problem = statePoolNameProblem(name);
  if (problem !== undefined) {
    throw new SynktiError('E_USAGE', problem, {
      hint: 'use 1-63 lower-case letters, digits, ".", "_" and "-", starting with a letter or digit (e.g. rosenbrock-data)',
    });
  }
  if (!root.endsWith('/') || root.startsWith('/') || root.includes('..')) {
    throw new SynktiError('E_USAGE', `state pools prefix "${root}" must be a relative key prefix ending with "/"`, {
      hint: `the stack's SYNKTI_STATE_POOLS_PREFIX is ${BATCH_PREFIXES.statePools}`,
    });
  }
  return `${root}${name}/`;
}
