/** `synkti pipeline submit | jobs`: straight to the task database (operators; users go through `synkti api`). */
import { SynktiError } from '@synkti/core';
import { loadPipelineModules, openTaskDatabase, type PipelineJobRecord } from '@synkti/tasks';

export async function pipelineSubmit(options: { pipeline: string[]; name: string; input: string; db: string; owner: string; wait: boolean }): Promise<PipelineJobRecord> {
  const pipelines = await loadPipelineModules(options.pipeline);
  const pipeline = pipelines.find((p) => p.name === options.name);
  if (!pipeline) throw new SynktiError('E_USAGE', `no pipeline "${options.name}" in ${options.pipeline.join(', ')}`, { hint: `use one of ${pipelines.map((p) => p.name).join(', ')}` });
  let input: unknown;
  try {
    input = JSON.parse(options.input);
  } catch {
    throw new SynktiError('E_USAGE', '--input is not valid JSON', { hint: 'e.g. --input \'{"size": 800000, "seed": "s", "chunkBytes": 100000}\'' });
  }
  let tasks: ReturnType<typeof pipeline.jobTasks>;
  try {
    tasks = pipeline.jobTasks(input);
  } catch (error) {
    throw new SynktiError('E_USAGE', `--input: ${(error as Error).message}`, { hint: 'fix the job input' });
  }
  const db = await openTaskDatabase(options.db);
  try {
    let job = await db.createJob({ pipeline: pipeline.name, owner: options.owner, input: tasks.input, tasks: tasks.tasks });
    while (options.wait && job.state === 'running') {
      await new Promise((r) => setTimeout(r, 200));
      job = (await db.getJob(job.id))!;
    }
    return job;
  } finally {
    await db.close();
  }
}

export async function pipelineJobsTable(options: { db: string; limit: number; json: boolean }): Promise<string> {
  const db = await openTaskDatabase(options.db);
  try {
    const jobs = await db.listJobs({ limit: options.limit });
    if (options.json) return JSON.stringify(jobs, null, 2);
    if (jobs.length === 0) return 'no jobs';
    const rows = [['ID', 'PIPELINE', 'OWNER', 'STATE', 'OPEN', 'CREATED', 'ERROR']];
    for (const j of jobs) rows.push([j.id, j.pipeline, j.owner, j.state, String(j.openTasks), new Date(j.createdAt).toISOString(), (j.error ?? '').slice(0, 60)]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  } finally {
    await db.close();
  }
}
