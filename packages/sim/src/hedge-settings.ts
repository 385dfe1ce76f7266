import { SynktiError, type ClusterSpec } from '@synkti/core';
import type { SpotHedgeOptions } from '@synkti/agent';

/**
 * The spot hedge the simulator runs, as an operator configured it: the cluster config's
 * `pools.<role>.spotHedge` (the agent reads the same block), then the command's flags over
 * it. Fields left unset keep the simulator's own: its launch delay and price ratio (the
 * world's), and the hedge's default objective.
 */
export function simHedgeSettings(input: {
  /** A validated cluster config (`synkti sim --config`). @default none */
  spec?: ClusterSpec | undefined;
  /** Its pool to read (`--pool`). @default the only spot pool */
  pool?: string | undefined;
  /** Flags (`--hedge-objective`, `--hedge-launch-delay`, `--hedge-price-ratio`, `--no-hedge`): win over the config. */
  overrides?: SpotHedgeOptions | undefined;
}): SpotHedgeOptions {
  let fromConfig: SpotHedgeOptions = {};
  if (input.spec) {
    const pools = Object.entries(input.spec.pools);
    let role = input.pool;
    if (role === undefined) {
      const spot = pools.filter(([, p]) => p.lifecycle === 'spot').map(([name]) => name);
      if (spot.length !== 1) {
        throw new SynktiError(
          'E_SIM_POOL',
          spot.length === 0
            ? `the cluster ${input.spec.name} has no spot pool: the hedge applies to spot pools`
            : `the cluster ${input.spec.name} has ${spot.length} spot pools (${spot.join(', ')})`,
          {
            hint:
              spot.length === 0
                ? 'leave out --config, or set lifecycle: "spot" on the pool'
                : `name one with --pool, e.g. --pool ${spot[0]!}`,
          },
        );
      }
      role = spot[0]!;
    }
    const pool = input.spec.pools[role];
    if (!pool)
      throw new SynktiError('E_SIM_POOL', `--pool ${role}: the cluster ${input.spec.name} has no such pool`, {
        hint: `use one of: ${pools.map(([name]) => name).join(', ')}`,
      });
    fromConfig = { ...pool.spotHedge };
  }
  const out: SpotHedgeOptions = { ...fromConfig };
  for (const [key, value] of Object.entries(input.overrides ?? {}) as [
    keyof SpotHedgeOptions,
    SpotHedgeOptions[keyof SpotHedgeOptions],
  ][]) {
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}
