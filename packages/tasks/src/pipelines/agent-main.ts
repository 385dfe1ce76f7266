/**
 * A pipeline agent process without the CLI around it:
 * `node --import tsx packages/tasks/src/pipelines/agent-main.ts '<PipelineAgentProcessOptions as JSON>'`.
 * Tests and supervisors that pass a full config use it; people use `synkti agent`.
 */
import { runPipelineAgentProcess, type PipelineAgentProcessOptions } from './pipeline-agent-process.ts';
import { cloudWatchQueueSink } from './cloudwatch-queue-sink.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as PipelineAgentProcessOptions;
try {
  process.exitCode = await runPipelineAgentProcess(options, { openMetricsSink: cloudWatchQueueSink });
} catch (error) {
  process.stderr.write(`agent failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exitCode = 1;
}
