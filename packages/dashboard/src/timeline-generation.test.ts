import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_CLUSTER, TAG_GENERATION } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import { TimelineTracker } from './timeline.ts';
import type { AgentStatusView } from './fleet-source.ts';

function record(id: string, tags: Record<string, string> = {}): InstanceRecord {
  return {
    id,
    state: 'running',
    privateIp: '127.0.0.1',
    instanceType: 'local.small',
    zone: 'local-a',
    lifecycle: 'spot',
    launchedAt: 0,
    tags: { [TAG_CLUSTER]: 'c', ...tags },
  };
}

function status(id: string, state: string, generation?: string): AgentStatusView {
  return { id, role: 'worker', zone: 'local-a', state, uptimeMs: 1, load: 0, members: [], ...(generation ? { generation } : {}) };
}

test('a rollout on the timeline: the surge names the generation it launches, and the node names it when ready', () => {
  const tracker = new TimelineTracker();
  tracker.observe(0, [{ record: record('i-old'), status: status('i-old', 'ready', 'g00000000000a'), notice: null }]);
  const launched = tracker.observe(1, [
    { record: record('i-old'), status: status('i-old', 'ready', 'g00000000000a'), notice: null },
    { record: record('i-new', { [TAG_GENERATION]: 'g00000000000b' }), status: undefined, notice: null },
  ]);
  assert.match(launched.find((e) => e.kind === 'launch')!.text, /i-new launched .*: rollout to generation g00000000000b$/);
  const ready = tracker.observe(2, [
    { record: record('i-old'), status: status('i-old', 'ready', 'g00000000000a'), notice: null },
    { record: record('i-new', { [TAG_GENERATION]: 'g00000000000b' }), status: status('i-new', 'ready', 'g00000000000b'), notice: null },
  ]);
  assert.equal(ready.find((e) => e.kind === 'ready')!.text, 'i-new ready (worker, local-a, generation g00000000000b)');
});
