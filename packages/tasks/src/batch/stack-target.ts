/**
 * A SpotBatchFleet for a coordinator to drive (`synkti batch cmaes --stack`): read from the
 * variables the stack's `coordinatorEnv` output names, so a coordinator started anywhere
 * with that environment uses the stack's queues, bucket and region.
 */
import { SynktiError } from '@synkti/core';
import { BATCH_COORDINATOR_ENV, batchQueueNames, queueNameOfUrl, readStackEnvironment } from '@synkti/core/contracts';

/**
 * A SpotBatchFleet to coordinate: its queues (scope = cluster, never created by the
 * coordinator), its bucket for checkpoints (object + pointer under runs/), its ECS service
 * for the workers (so no local workers).
 */
export interface BatchStackTarget {
  cluster: string;
  bucket: string;
  region: string;
}

/** The fleet from SpotBatchFleet's coordinatorEnv variables (a missing one names its output, exit 2). */
export function stackTargetFromEnv(env: Readonly<Record<string, string | undefined>>): BatchStackTarget {
  const v = readStackEnvironment('synkti batch cmaes --stack', BATCH_COORDINATOR_ENV, env);
  const names = batchQueueNames(v.SYNKTI_CLUSTER!);
  for (const [name, queue] of [
    ['SYNKTI_TASK_QUEUE_URL', names.tasks],
    ['SYNKTI_RESULT_QUEUE_URL', names.results],
  ] as const) {
    if (queueNameOfUrl(v[name]!) !== queue) {
      throw new SynktiError(
        'E_CONFIG_STACK_ENV',
        `${name} names queue "${queueNameOfUrl(v[name]!)}", but cluster ${v.SYNKTI_CLUSTER}'s is "${queue}"`,
        { hint: 'export the coordinatorEnv of one stack' },
      );
    }
  }
  return { cluster: v.SYNKTI_CLUSTER!, bucket: v.SYNKTI_BUCKET!, region: v.AWS_REGION! };
}
