import { startOrSkip } from '../../../../scripts/test-services/services.ts';
import { startTestSqs } from '../../../../scripts/test-services/sqs.ts';
import { runQueueConformance } from './conformance.ts';
import { openSqsQueue } from './sqs-queue.ts';

runQueueConformance('sqs (fauxqs)', async () => {
  const started = await startOrSkip(startTestSqs);
  if (started.skip !== undefined) return { skip: started.skip };
  const server = started.service;
  return {
    // A client per handle, as separate workers would have.
    open: (options) => openSqsQueue({ ...options, client: server.client() }),
    close: () => server.stop(),
    child: { kind: 'sqs', endpoint: server.endpoint, region: server.region },
  };
});
