import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentAutoscaleStatus, AgentStatus } from '@synkti/core/contracts';
import type { NodeReport } from '../agent-status.ts';
import { renderNodeTable, reportsToJson } from './status.ts';
import { autoscaleLines, autoscalePools } from './autoscale-status.ts';

function report(id: string, autoscale: AgentAutoscaleStatus[] | undefined): NodeReport {
  const status: AgentStatus = {
    id,
    cluster: 'demo',
    role: 'worker',
    zone: 'local-a',
    state: 'ready',
    pid: 1,
    address: '127.0.0.1',
    ports: { agent: 1, router: 2, workload: 3 },
    startedAt: 0,
    uptimeMs: 1000,
    load: 0,
    members: [],
    cloudListCalls: 0,
    ...(autoscale ? { autoscale } : {}),
  };
  return {
    record: {
      id,
      state: 'running',
      privateIp: '127.0.0.1',
      instanceType: 't',
      zone: 'local-a',
      lifecycle: 'spot',
      launchedAt: 0,
      tags: { SynktiRole: 'worker' },
    },
    status,
  };
}

const last = (epoch: number, desired: number) => ({
  epoch,
  desired,
  at: 1_000_000,
  action: 'scale-out' as const,
  from: 1,
  by: 'i-a',
  reason: 'load 8 sustained over 2s asks for 4',
});

test('status shows each autoscaled pool once: the latest action any node has seen, with current/desired/min/max and the decider', () => {
  const reports = [
    report('i-a', [{ pool: 'worker', current: 4, desired: 4, min: 1, max: 4, decider: 'i-a', last: last(2, 4) }]),
    // A node that has not heard of the second action yet.
    report('i-b', [{ pool: 'worker', current: 3, desired: 2, min: 1, max: 4, decider: 'i-a', last: last(1, 2) }]),
    report('i-c', undefined),
  ];
  const pools = autoscalePools(reports);
  assert.equal(pools.length, 1);
  assert.equal(pools[0]!.last?.epoch, 2);
  assert.deepEqual(autoscaleLines(pools, 1_005_000), [
    'autoscale worker: 4 live, desired 4 (min 1, max 4), decided by i-a',
    '  last: scale-out 1 → 4, 5.0s ago (load 8 sustained over 2s asks for 4)',
  ]);
  const table = renderNodeTable(reports);
  assert.match(table, /autoscale worker: 4 live, desired 4 \(min 1, max 4\)/);
  const json = reportsToJson(reports) as { autoscale?: AgentAutoscaleStatus[] }[];
  assert.equal(json[0]!.autoscale?.[0]?.desired, 4);
  assert.equal(json[2]!.autoscale, undefined);
  // No autoscaled pool: the table is unchanged.
  assert.doesNotMatch(renderNodeTable([report('i-c', undefined)]), /autoscale/);
});
