import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { it } from 'node:test';
import { isProcessAlive, processGroupMembers, processStartTime, readProcStat, waitUntil } from './proc.ts';

it('identifies a process by pid and start time, and sees a dead one (even unreaped) as gone', async (t) => {
  const self = readProcStat(process.pid);
  assert.ok(self, '/proc is readable');
  assert.equal(self.pid, process.pid);
  assert.ok(isProcessAlive(process.pid, self.startTime));
  assert.equal(isProcessAlive(process.pid, self.startTime + 1), false, 'another start time means another process');

  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { detached: true, stdio: 'ignore' });
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  await once(child, 'spawn');
  const pid = child.pid!;
  const start = processStartTime(pid);
  assert.ok(start !== undefined && isProcessAlive(pid, start));
  assert.deepEqual(processGroupMembers(pid), [pid], 'a detached child leads its own group');
  process.kill(pid, 'SIGKILL');
  assert.ok(await waitUntil(() => !isProcessAlive(pid, start), 2000), 'dead (a zombie counts as dead)');
  assert.deepEqual(processGroupMembers(pid), []);
  assert.equal(isProcessAlive(-1), false);
});
