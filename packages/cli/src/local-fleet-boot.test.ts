/**
 * What a local instance boots: the agent's sources through tsx, or an unpacked release's
 * compiled entry named by SYNKTI_AGENT_ENTRY (how the footprint bench runs a fleet from the release).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import { AGENT_MAIN, agentBootCommand } from './local-fleet.ts';

it('boots the sources through tsx by default, a release entry with SYNKTI_AGENT_ENTRY, and refuses an entry that is not there', (t) => {
  const sources = agentBootCommand({});
  assert.equal(sources[0], process.execPath);
  assert.equal(sources[1], '--import');
  assert.match(sources[2]!, /tsx/);
  assert.equal(sources[3], AGENT_MAIN);

  const dir = mkdtempSync(join(tmpdir(), 'synkti-release-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const entry = join(dir, 'synkti-agent.mjs');
  writeFileSync(entry, '');
  assert.deepEqual(agentBootCommand({ SYNKTI_AGENT_ENTRY: entry }), [process.execPath, entry]);

  for (const bad of ['bin/synkti-agent.mjs', join(dir, 'missing.mjs')]) {
    assert.throws(
      () => agentBootCommand({ SYNKTI_AGENT_ENTRY: bad }),
      (error: unknown) => {
        assert.ok(isSynktiError(error, 'E_USAGE'));
        assert.match(error.message, /SYNKTI_AGENT_ENTRY is not an existing absolute path/);
        assert.match(error.hint ?? '', /bin\/synkti-agent\.mjs/);
        return true;
      },
    );
  }
});
