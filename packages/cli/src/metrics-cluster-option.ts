/**
 * `--metrics-cluster` of `synkti batch cmaes`, `synkti agent` and `synkti api` as a
 * commander option parser: @synkti/tasks's CloudWatch dimension-value rules, commander's
 * error. Loaded by those command groups only (it imports @synkti/tasks).
 */
import { InvalidArgumentError } from 'commander';
import { SynktiError } from '@synkti/core';
import { validateDimensionValue } from '@synkti/tasks';

/** `--metrics-cluster` as a commander option parser (same rules, commander's error). */
export function metricsClusterOption(value: string): string {
  try {
    return validateDimensionValue(value);
  } catch (error) {
    throw new InvalidArgumentError(
      error instanceof SynktiError ? `${error.message.replace(/^--metrics-cluster: /, '')} (${error.hint ?? ''})` : String(error),
    );
  }
}
