import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PIPELINE_LOG_EVENTS, logEventFilterPattern } from './contracts/log-events.ts';
import { createProcessLog } from './process-log.ts';

const AT = Date.UTC(2026, 11, 7, 12, 0, 0, 123);

test("JSON lines carry the agent's field names and ISO time; text lines the same time and the component", () => {
  const lines: string[] = [];
  const write = (line: string): void => {
    lines.push(line);
  };
  createProcessLog({ component: 'agent gpu', json: true, write, now: () => AT })('serving "embed" (2 tasks)\nnext');
  createProcessLog({ component: 'batch worker', write, now: () => AT })('stopped: 3 completed');
  assert.ok(
    lines.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1),
    'one line per event, even with a newline in the message',
  );
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: '2026-12-07T12:00:00.123Z',
    level: 30,
    component: 'agent gpu',
    msg: 'serving "embed" (2 tasks)\nnext',
  });
  assert.equal(lines[1], '2026-12-07T12:00:00.123Z batch worker: stopped: 3 completed\n');
});

test('a structured event adds its name and fields to the JSON line; the text line stays the message; filter patterns name it', () => {
  const lines: string[] = [];
  const write = (line: string): void => {
    lines.push(line);
  };
  const event = { event: PIPELINE_LOG_EVENTS.claimFailed, error: 'connection refused' } as const;
  createProcessLog({ component: 'agent gpu', json: true, write, now: () => AT })('claim failed: connection refused', event);
  createProcessLog({ component: 'agent gpu', write, now: () => AT })('claim failed: connection refused', event);
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: '2026-12-07T12:00:00.123Z',
    level: 30,
    component: 'agent gpu',
    msg: 'claim failed: connection refused',
    event: 'pipeline.claim.failed',
    error: 'connection refused',
  });
  assert.equal(lines[1], '2026-12-07T12:00:00.123Z agent gpu: claim failed: connection refused\n');
  assert.equal(logEventFilterPattern(PIPELINE_LOG_EVENTS.claimFailed), '{ $.event = "pipeline.claim.failed" }');
  assert.equal(
    logEventFilterPattern(PIPELINE_LOG_EVENTS.taskAttemptFailed, { outcome: 'failed' }),
    '{ ($.event = "pipeline.task.attempt_failed") && ($.outcome = "failed") }',
  );
  assert.throws(() => logEventFilterPattern(PIPELINE_LOG_EVENTS.claimFailed, { error: 'a "quoted" value' }), /escaping/);
});
