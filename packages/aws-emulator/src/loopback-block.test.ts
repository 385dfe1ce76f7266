import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { LOOPBACK_OCTETS, claimLoopbackOctet, releaseLoopbackOctet } from './loopback-block.ts';

test("each emulated AWS claims its own 127.X block; a dead process's lock is free again; released locks are gone", (t) => {
  const lockDir = mkdtempSync(join(tmpdir(), 'synkti-loopback-'));
  t.after(() => rmSync(lockDir, { recursive: true, force: true }));
  const first = claimLoopbackOctet({ lockDir });
  const second = claimLoopbackOctet({ lockDir });
  assert.notEqual(first, second, 'two claims never share a block');
  for (const o of [first, second]) assert.ok(o >= LOOPBACK_OCTETS.first && o <= LOOPBACK_OCTETS.last);
  assert.equal(readFileSync(join(lockDir, `synkti-emulated-net-127.${first}.lock`), 'utf8'), String(process.pid));

  // Every other block held by a live process (ours) except one held by a process that is gone.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout.trim();
  let staleOctet = 0;
  for (let o = LOOPBACK_OCTETS.first; o <= LOOPBACK_OCTETS.last; o++) {
    if (o === first || o === second) continue;
    if (staleOctet === 0) {
      staleOctet = o;
      writeFileSync(join(lockDir, `synkti-emulated-net-127.${o}.lock`), dead);
      continue;
    }
    writeFileSync(join(lockDir, `synkti-emulated-net-127.${o}.lock`), String(process.pid));
  }
  assert.equal(claimLoopbackOctet({ lockDir }), staleOctet, "the only free block is the dead process's");
  assert.throws(() => claimLoopbackOctet({ lockDir }), /every loopback block/);

  releaseLoopbackOctet(first, { lockDir });
  assert.equal(existsSync(join(lockDir, `synkti-emulated-net-127.${first}.lock`)), false);
  releaseLoopbackOctet(second, { lockDir });
  releaseLoopbackOctet(staleOctet, { lockDir });
});
