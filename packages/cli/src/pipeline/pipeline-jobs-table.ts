/** `synkti pipeline jobs`: the task database's jobs as a table (or JSON). */
import { openTaskDatabase } from '@synkti/tasks';

export async function pipelineJobsTable(options: { db: string; limit: number; json: boolean }): Promise<string> {
  const db = await openTaskDatabase(options.db);
  try {
    const jobs = await db.listJobs({ limit: options.limit });
    if (options.json) return JSON.stringify(jobs, null, 2);
    if (jobs.length === 0) return 'no jobs';
    const rows = [['ID', 'PIPELINE', 'OWNER', 'STATE', 'OPEN', 'CREATED', 'ERROR']];
    for (const j of jobs)
      rows.push([
        j.id,
        j.pipeline,
        j.owner,
        j.state,
        String(j.openTasks),
        new Date(j.createdAt).toISOString(),
        (j.error ?? '').slice(0, 60),
      ]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    return rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n');
  } finally {
    await db.close();
  }
}
