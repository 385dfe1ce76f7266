/**
 * Where a batch run keeps its state: the local cloud's directory (worker instances,
 * the object store with checkpoints) and the run's two queues on the chosen backend.
 * Queue names follow the one scheme of the batch contract (`batchQueueNames(scope)`):
 * a run of its own has scope `batch-<run>` (so a result in its queue that names another
 * run is garbage, not someone else's data); a SpotBatchFleet's workers use the fleet's
 * queues, scope = its cluster name.
 */
import { join, resolve } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SynktiError } from '@synkti/core';
import { batchQueueNames, batchRunScope } from '@synkti/core/contracts';
import { LocalObjectStore } from '@synkti/cloud';
import type { Queue } from '../queue/types.ts';
import { openLocalQueue } from '../queue/local-queue.ts';
import { openPostgresQueue } from '../queue/postgres-queue.ts';
import { openSqsQueue } from '../queue/sqs-queue.ts';

export const BATCH_BACKENDS = ['local', 'sqs', 'postgres'] as const;
export type BatchBackend = (typeof BATCH_BACKENDS)[number];
/** Bucket of checkpoints and cancel markers in the batch state's object store. */
export const BATCH_BUCKET = 'synkti-batch';
/** Environment variable with the PostgreSQL URL (kept out of flags, user data and logs). */
export const POSTGRES_URL_ENV = 'SYNKTI_POSTGRES_URL';
/** Deliveries before a task is dead-lettered: preemptions and kills count, so allow several. */
export const DEFAULT_BATCH_MAX_RECEIVES = 10;
const LOCAL_POLL_MS = 25;

export interface BackendSettings {
  backend: BatchBackend;
  /** The batch state directory (absolute). */
  stateDir: string;
  /** SQS endpoint URL (e.g. a local fauxqs); default: AWS's for the region. */
  sqsEndpoint?: string | undefined;
  /** AWS region for SQS. */
  region?: string | undefined;
  maxReceives: number;
  /**
   * Scope of the queue names (`<scope>-tasks`, `<scope>-results`).
   * @default `batch-<run>` (the run's own queues)
   */
  queueScope?: string | undefined;
  /**
   * Create missing queues (SQS). A stack's workers open the stack's queues and may not create any.
   * @default true
   */
  create?: boolean | undefined;
}

/** `--state-dir`, else `$SYNKTI_STATE_DIR/batch`, else `./.synkti/batch`. */
export function resolveBatchStateDir(flag: string | undefined, cwd = process.cwd()): string {
  if (flag) return resolve(cwd, flag);
  return resolve(cwd, process.env.SYNKTI_STATE_DIR ?? '.synkti', 'batch');
}

export function batchObjectStore(stateDir: string): LocalObjectStore {
  // The same directory the local cloud uses for its objects (createLocalCloud).
  return new LocalObjectStore({ root: join(stateDir, 'objects') });
}

export function queueNamesOf(run: string): { tasks: string; results: string } {
  return batchQueueNames(batchRunScope(run));
}

export interface RunQueues {
  tasks: Queue;
  results: Queue;
  close(): Promise<void>;
}

export async function openRunQueues(settings: BackendSettings, run: string): Promise<RunQueues> {
  const names = batchQueueNames(settings.queueScope ?? batchRunScope(run));
  const common = { maxReceives: settings.maxReceives };
  if (settings.backend === 'local') {
    const path = join(settings.stateDir, 'queues.db');
    // Other processes' sends are seen by polling: a short interval keeps a generation's
    // round trip small (a poll is one indexed SELECT).
    const tasks = await openLocalQueue({ path, name: names.tasks, pollIntervalMs: LOCAL_POLL_MS, ...common });
    const results = await openLocalQueue({ path, name: names.results, pollIntervalMs: LOCAL_POLL_MS, ...common });
    return {
      tasks,
      results,
      close: async () => {
        await tasks.close();
        await results.close();
      },
    };
  }
  if (settings.backend === 'postgres') {
    const connectionString = process.env[POSTGRES_URL_ENV];
    if (!connectionString) {
      throw new SynktiError('E_USAGE', `--backend postgres: ${POSTGRES_URL_ENV} is not set`, {
        hint: `export ${POSTGRES_URL_ENV}=postgres://user:password@host:5432/db`,
      });
    }
    const tasks = await openPostgresQueue({ connectionString, name: names.tasks, poolSize: 2, ...common });
    const results = await openPostgresQueue({ connectionString, name: names.results, poolSize: 2, ...common });
    return {
      tasks,
      results,
      close: async () => {
        await tasks.close();
        await results.close();
      },
    };
  }
  const region = settings.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new SynktiError('E_USAGE', '--backend sqs: no region', { hint: 'pass --region or set AWS_REGION' });
  const client = new SQSClient({ region, ...(settings.sqsEndpoint ? { endpoint: settings.sqsEndpoint } : {}) });
  try {
    const create = settings.create ?? true;
    const tasks = await openSqsQueue({ client, name: names.tasks, deadLetterQueueName: names.tasksDeadLetter, create, ...common });
    const results = await openSqsQueue({ client, name: names.results, deadLetterQueueName: names.resultsDeadLetter, create, ...common });
    return {
      tasks,
      results,
      close: async () => {
        await tasks.close();
        await results.close();
        client.destroy();
      },
    };
  } catch (error) {
    client.destroy();
    throw error;
  }
}

/** Environment a worker instance needs for the backend (credentials stay out of user data). */
export function backendEnv(backend: BatchBackend): Record<string, string> {
  const keys =
    backend === 'postgres'
      ? [POSTGRES_URL_ENV]
      : backend === 'sqs'
        ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']
        : [];
  const env: Record<string, string> = {};
  for (const key of keys) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}
