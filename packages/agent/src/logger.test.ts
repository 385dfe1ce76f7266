import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from './logger.ts';

test('agent log lines carry ISO-8601 UTC time with milliseconds, and no secret', async () => {
  const lines: string[] = [];
  const sink = {
    write: (text: string) => {
      lines.push(text);
    },
  };
  const logger = createLogger({ node: 'i-test' }, sink);
  const before = Date.now();
  // warn: the suite may run with SYNKTI_LOG_LEVEL=warn.
  logger.warn({ secret: 'hunter2', headers: { authorization: 'Bearer x' } }, 'joined the fleet');
  const entry = JSON.parse(lines.join('')) as { time: unknown; msg: string; node: string; secret: string };
  assert.equal(typeof entry.time, 'string');
  assert.match(entry.time as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.ok(Date.parse(entry.time as string) >= before - 1 && Date.parse(entry.time as string) <= Date.now());
  assert.equal(entry.msg, 'joined the fleet');
  assert.equal(entry.secret, '[redacted]');
  assert.doesNotMatch(lines.join(''), /hunter2|Bearer x/);
});
