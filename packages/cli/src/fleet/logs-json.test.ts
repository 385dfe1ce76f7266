/** `synkti logs --json`: one JSON object per complete line, pino lines parsed, partial lines held until their end. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { validateCluster } from '@synkti/core';
import { jsonLineWriter, logs } from '../commands/logs.ts';

it('complete lines become { node, source, line, entry }; a partial line waits for its end', () => {
  const out: string[] = [];
  const writer = jsonLineWriter('i-1', 'agent', (text) => out.push(text));
  writer.push('{"level":30,"msg":"joined the fleet"}\nplain text\n{"level":40,"ms');
  assert.equal(out.length, 2, 'the partial third line is not written yet');
  writer.push('g":"slow peer"}\n');
  writer.push('tail without newline');
  writer.flush();
  const lines = out
    .join('')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { node: string; source: string; line: string; entry: unknown });
  assert.deepEqual(lines, [
    { node: 'i-1', source: 'agent', line: '{"level":30,"msg":"joined the fleet"}', entry: { level: 30, msg: 'joined the fleet' } },
    { node: 'i-1', source: 'agent', line: 'plain text', entry: null },
    { node: 'i-1', source: 'agent', line: '{"level":40,"msg":"slow peer"}', entry: { level: 40, msg: 'slow peer' } },
    { node: 'i-1', source: 'agent', line: 'tail without newline', entry: null },
  ]);
});

it('on aws, logs says where the agent logs are (journalctl through synkti ssh)', async () => {
  const spec = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
  await assert.rejects(
    logs(spec, '/nonexistent/synkti.config.ts', 'i-0abc', { follow: false, lines: 10 }),
    (e: Error & { hint?: string }) =>
      /journal/.test(e.message) && /synkti ssh i-0abc/.test(e.hint ?? '') && /journalctl -u synkti -f/.test(e.hint ?? ''),
  );
});
