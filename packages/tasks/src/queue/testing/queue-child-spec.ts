/**
 * How a test's child process opens the same queue backend as the test (conformance cases
 * that need a real process to die): plain data, so it crosses a process boundary.
 */
import type { Queue } from '../types.ts';

export type QueueChildSpec =
  { kind: 'local'; path: string } | { kind: 'postgres'; connectionString: string } | { kind: 'sqs'; endpoint: string; region: string };

/** Opens queue `name` on the backend `spec` names (a fresh handle: connection, client). */
export async function openQueueForChild(spec: QueueChildSpec, name: string): Promise<Queue> {
  switch (spec.kind) {
    case 'local': {
      const { openLocalQueue } = await import('../local-queue.ts');
      return openLocalQueue({ path: spec.path, name, pollIntervalMs: 50 });
    }
    case 'postgres': {
      const { openPostgresQueue } = await import('../postgres-queue.ts');
      return openPostgresQueue({ connectionString: spec.connectionString, name, poolSize: 2 });
    }
    case 'sqs': {
      const { SQSClient } = await import('@aws-sdk/client-sqs');
      const { openSqsQueue } = await import('../sqs-queue.ts');
      // Dummy credentials: the emulator does not check them.
      const client = new SQSClient({
        endpoint: spec.endpoint,
        region: spec.region,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 2,
      });
      return openSqsQueue({ name, client });
    }
  }
}
