/**
 * `synkti pipeline submit`: a job straight into the task database, from the pipeline
 * modules' definitions (operators; users go through the REST API). Errors name the
 * command's options (`--input`), as the command passes them through.
 */
import { SynktiError } from '@synkti/core';
import { loadPipelineModules } from './pipeline-modules.ts';
import { openTaskDatabase } from './open-task-database.ts';
import type { PipelineJobRecord } from './types.ts';

/** Creates the job (its input checked by the pipeline's jobTasks); with `wait`, returns once it is no longer running. */
export async function pipelineSubmit(options: {
  pipeline: string[];
  name: string;
  input: string;
  db: string;
  owner: string;
  wait: boolean;
}): Promise<PipelineJobRecord> {
  const pipelines = await loadPipelineModules(options.pipeline);
  const pipeline = pipelines.find((p) => p.name === options.name);
  if (!pipeline)
    throw new SynktiError('E_USAGE', `no pipeline "${options.name}" in ${options.pipeline.join(', ')}`, {
      hint: `use one of ${pipelines.map((p) => p.name).join(', ')}`,
    });
  let input: unknown;
  try {
    input = JSON.parse(options.input);
  } catch {
    throw new SynktiError('E_USAGE', '--input is not valid JSON', {
      hint: 'e.g. --input \'{"size": 800000, "seed": "s", "chunkBytes": 100000}\'',
    });
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
