import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_CLUSTER, TAG_REPLACES } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import { FleetAggregator } from './fleet-aggregator.ts';
import type { FleetSource, InstanceLifeTimes } from './fleet-source.ts';

const NOW = 1_800_000_000_000;
const MIN = 60_000;

function record(id: string, state: InstanceRecord['state'], launchedAt: number, extra: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    id,
    state,
    privateIp: '127.0.0.1',
    instanceType: 'local.small',
    zone: 'local-a',
    lifecycle: 'spot',
    launchedAt,
    tags: { [TAG_CLUSTER]: 'c' },
    ...extra,
  };
}

test('a dashboard opened after a preemption shows it: the fleet history is on the timeline from the first snapshot, once', async () => {
  const records = [
    record('i-old', 'terminated', NOW - 90 * MIN, { stateReason: 'Client.UserInitiatedShutdown' }),
    record('i-a', 'running', NOW - 30 * MIN),
    record('i-b', 'terminated', NOW - 30 * MIN, { stateReason: 'Server.SpotInstanceTermination' }),
    record('i-c', 'running', NOW - 9 * MIN, { tags: { [TAG_CLUSTER]: 'c', [TAG_REPLACES]: 'i-b' } }),
  ];
  const lifeTimes: InstanceLifeTimes[] = [
    { id: 'i-old', launchedAt: NOW - 90 * MIN, noticeTime: null, terminatedAt: NOW - 80 * MIN },
    { id: 'i-a', launchedAt: NOW - 30 * MIN, noticeTime: null, terminatedAt: null },
    { id: 'i-b', launchedAt: NOW - 30 * MIN, noticeTime: NOW - 8 * MIN, terminatedAt: NOW - 8 * MIN },
    { id: 'i-c', launchedAt: NOW - 9 * MIN, noticeTime: null, terminatedAt: null },
    { id: 'i-other-cluster', launchedAt: NOW - 5 * MIN, noticeTime: null, terminatedAt: null },
  ];
  let reads = 0;
  const source: FleetSource = {
    cluster: 'c',
    provider: 'local',
    instances: async () => records,
    status: async () => undefined,
    metrics: async () => undefined,
    lifeTimes: async () => {
      reads++;
      return lifeTimes;
    },
  };
  const aggregator = new FleetAggregator({ source, clock: () => NOW, intervalMs: 60_000 });
  try {
    await aggregator.start();
    await aggregator.refresh();
    const timeline = aggregator.snapshot()!.timeline;
    const told = timeline.map((e) => `${e.kind} ${e.node} ${(e.at - NOW) / MIN}`);
    assert.deepEqual(
      told,
      ['launch i-a -30', 'launch i-b -30', 'replacement i-c -9', 'preemption i-b -8', 'watch  0'],
      'oldest first, within the last hour (i-old is older), no other cluster, each once after two rounds',
    );
    assert.match(timeline.find((e) => e.kind === 'preemption')!.text, /i-b preempted/);
    assert.equal(reads, 1, 'the history is read once, when the dashboard opens');
    assert.deepEqual(
      timeline.map((e) => e.seq),
      [...timeline.map((e) => e.seq)].sort((a, b) => a - b),
      'seq increases',
    );
  } finally {
    aggregator.stop();
  }
});
