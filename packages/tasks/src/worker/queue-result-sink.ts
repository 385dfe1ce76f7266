import type { Queue } from '../queue/types.ts';
import type { ResultSink, TaskResult } from './types.ts';

/**
 * Results as JSON messages on a results queue (the batch coordinator reads them). A
 * send resolves once the queue stored the message, which is what makes it durable; a
 * big result goes through the results queue's payload store like any other body.
 */
export function queueResultSink<V = unknown>(queue: Queue): ResultSink<V> {
  return {
    async send(result: TaskResult<V>): Promise<void> {
      await queue.send(JSON.stringify(result));
    },
  };
}
