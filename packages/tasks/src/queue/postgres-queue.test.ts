import { startOrSkip } from '../../../../scripts/test-services/services.ts';
import { startTestPostgres } from '../../../../scripts/test-services/postgres.ts';
import { runQueueConformance } from './conformance.ts';
import { openPostgresQueue } from './postgres-queue.ts';

runQueueConformance('postgres', async () => {
  const started = await startOrSkip(startTestPostgres);
  if (started.skip !== undefined) return { skip: started.skip };
  const server = started.service;
  return {
    open: (options) => openPostgresQueue({ ...options, connectionString: server.url, poolSize: 2 }),
    close: () => server.stop(),
  };
});
