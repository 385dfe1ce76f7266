import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteTaskDatabase } from './open-task-database.ts';
import { openSqliteExecutor } from './sqlite-executor.ts';
import { runTaskDatabaseConformance } from './task-database-conformance.ts';

runTaskDatabaseConformance('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'synkti-taskdb-'));
  const path = join(dir, 'tasks.db');
  return {
    open: (tablePrefix) => openSqliteTaskDatabase({ path, tablePrefix }),
    raw: async (_prefix, sql) => {
      const ex = openSqliteExecutor(path);
      try {
        await ex.run(sql);
      } finally {
        await ex.close();
      }
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
});
