import { startOrSkip } from '../../../../scripts/test-services/services.ts';
import { startTestPostgres } from '../../../../scripts/test-services/postgres.ts';
import { openPostgresTaskDatabase } from './open-task-database.ts';
import { openPostgresExecutor } from './postgres-executor.ts';
import { runTaskDatabaseConformance } from './task-database-conformance.ts';

runTaskDatabaseConformance('postgres', async () => {
  const started = await startOrSkip(startTestPostgres);
  if (started.skip !== undefined) return { skip: started.skip };
  const server = started.service;
  return {
    open: (tablePrefix) => openPostgresTaskDatabase({ connectionString: server.url, poolSize: 3, tablePrefix }),
    raw: async (_prefix, sql) => {
      const ex = openPostgresExecutor({ connectionString: server.url, poolSize: 1 });
      try {
        await ex.run(sql);
      } finally {
        await ex.close();
      }
    },
    close: () => server.stop(),
  };
});
