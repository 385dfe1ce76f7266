/**
 * The stack's log metric filters against what the pipeline agent really prints: a real
 * PipelineAgent (SQLite task database) writes through the real worker-process log in JSON,
 * as `synkti agent` does in its ECS task; each CloudWatch filter pattern of the stack must
 * count exactly the lines of its event (a failed-for-good filter must not count retries).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProcessLog } from '@synkti/core/process-log';
import { PipelineAgent, definePipeline, openSqliteTaskDatabase, type TaskDatabase } from '@synkti/tasks';
import { matchesJsonFilterPattern } from '../testing/log-filter-pattern.ts';
import { EMITTED_METRICS, LOG_METRIC_FILTERS } from './pipeline-metrics.ts';

async function until(what: string, probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('each log metric filter counts exactly the agent lines of its event', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'synkti-log-events-'));
  const real = await openSqliteTaskDatabase({ path: join(dir, 'tasks.db') });
  let agent: PipelineAgent | undefined;
  t.after(async () => {
    await agent?.stop();
    await real.close();
    await rm(dir, { recursive: true, force: true });
  });
  // The database fails once on a claim and, after the first, on every membership heartbeat:
  // the agent's own error paths print the events (nothing here writes a log line itself).
  let claims = 0;
  let heartbeats = 0;
  const db = new Proxy(real, {
    get(target, key, receiver) {
      if (key === 'claim')
        return async (...a: Parameters<TaskDatabase['claim']>) => {
          if (++claims === 1) throw new Error('connection refused');
          return target.claim(...a);
        };
      if (key === 'agentHeartbeat')
        return async (...a: Parameters<TaskDatabase['agentHeartbeat']>) => {
          if (++heartbeats > 1) throw new Error('timeout');
          return target.agentHeartbeat(...a);
        };
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  const pipeline = definePipeline({
    name: 'logs',
    stages: {
      flaky: {
        pool: 'p',
        maxAttempts: 2,
        timeout: '5s',
        handler: () => {
          throw new Error('boom');
        },
      },
    },
  });
  await real.createJob({ pipeline: pipeline.name, ...pipeline.jobTasks(null) });

  const lines: string[] = [];
  const log = createProcessLog({
    component: 'agent p',
    json: true,
    write: (line) => {
      lines.push(line.trimEnd());
    },
  });
  agent = new PipelineAgent({ db, pipelines: [pipeline], pool: 'p', pollMs: 20, heartbeatMs: 50, requeuer: false, onLog: log });
  agent.start();
  const count = (metric: string): number => {
    const filter = LOG_METRIC_FILTERS.find((f) => f.metric === metric);
    assert.ok(filter, metric);
    return lines.filter((line) => matchesJsonFilterPattern(filter.pattern, line)).length;
  };
  await until(
    'a retry, the failure for good, a claim error and a heartbeat error',
    () => count('taskFailedForGood') >= 1 && count('taskRetries') >= 1 && count('claimErrors') >= 1 && count('heartbeatErrors') >= 1,
  );
  await agent.stop();

  assert.equal(count('taskRetries'), 1, 'attempt 1 of 2 was retried');
  assert.equal(count('taskFailedForGood'), 1, 'attempt 2 failed the task for good; the retry line is not counted');
  assert.equal(count('claimErrors'), 1);
  assert.ok(count('heartbeatErrors') >= 1);
  for (const metric of EMITTED_METRICS.filter((m) => m.source === 'log')) {
    assert.ok(
      LOG_METRIC_FILTERS.some((f) => f.metric === metric.id),
      `${metric.id} has a filter`,
    );
  }
  const failed = lines.find((line) =>
    matchesJsonFilterPattern(LOG_METRIC_FILTERS.find((f) => f.metric === 'taskFailedForGood')!.pattern, line),
  );
  const record = JSON.parse(failed ?? '{}') as Record<string, unknown>;
  assert.deepEqual(
    {
      component: record.component,
      level: record.level,
      task: record.task,
      type: record.type,
      attempt: record.attempt,
      error: record.error,
    },
    { component: 'agent p', level: 30, task: 'start', type: 'logs.flaky', attempt: 2, error: 'boom' },
    "the line is the process log's JSON with the event's fields",
  );
  assert.match(String(record.msg), /attempt 2 failed: boom -> failed/, 'people still read the text');
});
