import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newestBatchReport } from './local-fleet-source.ts';

test("the newest batch run's last complete metrics line", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-dash-batch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(await newestBatchReport(dir), undefined, 'no runs: no batch panel');
  const write = (run: string, lines: object[], mtimeS: number): void => {
    mkdirSync(join(dir, 'runs', run), { recursive: true });
    const file = join(dir, 'runs', run, 'metrics.jsonl');
    for (const line of lines) appendFileSync(file, `${JSON.stringify(line)}\n`);
    utimesSync(file, mtimeS, mtimeS);
  };
  write('old', [{ generation: 9, queueDepth: 1 }], 1000);
  write(
    'new',
    [
      { generation: 1, queueDepth: 40 },
      { generation: 2, queueDepth: 12, queueInFlight: 4, queueDeadLettered: 1 },
    ],
    2000,
  );
  mkdirSync(join(dir, 'runs', 'empty'));
  const report = await newestBatchReport(dir);
  assert.deepEqual(report, { run: 'new', metrics: { generation: 2, queueDepth: 12, queueInFlight: 4, queueDeadLettered: 1 } });
});
