import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProcessLog } from './process-log.ts';

const AT = Date.UTC(2026, 11, 7, 12, 0, 0, 123);

test('JSON lines carry the agent\'s field names and ISO time; text lines the same time and the component', () => {
  const lines: string[] = [];
  const write = (line: string): void => { lines.push(line); };
  createProcessLog({ component: 'agent gpu', json: true, write, now: () => AT })('serving "embed" (2 tasks)\nnext');
  createProcessLog({ component: 'batch worker', write, now: () => AT })('stopped: 3 completed');
  assert.ok(lines.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1), 'one line per event, even with a newline in the message');
  assert.deepEqual(JSON.parse(lines[0]!), { time: '2026-12-07T12:00:00.123Z', level: 30, component: 'agent gpu', msg: 'serving "embed" (2 tasks)\nnext' });
  assert.equal(lines[1], '2026-12-07T12:00:00.123Z batch worker: stopped: 3 completed\n');
});
