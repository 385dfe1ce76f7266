/**
 * `synkti status` on provider aws: instances come from a paginated, tag-filtered
 * DescribeInstances (EC2 mocked with aws-sdk-client-mock); a reachable agent adds its
 * status, an unreachable one shows EC2's state; same JSON shape as the local provider.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { validateCluster } from '@synkti/core';
import { clusterStatus, renderNodeTable, reportsToJson } from '../commands/status.ts';
import { fakeEc2, type FakeEc2Instance } from './aws-fleet-testing.ts';

const SECRET = 'a-test-secret-of-enough-length-0123';
const SPEC = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 3 } } });

let agent: Server;
let agentPort = 0;
let closedPort = 0;
const seenAuth: string[] = [];

before(async () => {
  agent = createServer((req, res) => {
    seenAuth.push(req.headers.authorization ?? '');
    if (req.headers.authorization !== `Bearer ${SECRET}`) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        // A whole /status body as an agent sends it (the CLI parses it against the contract's schema).
        id: 'i-00000000000000001',
        cluster: 'prod',
        role: 'worker',
        zone: 'us-east-1a',
        state: 'ready',
        pid: 4242,
        address: '127.0.0.1',
        ports: { agent: agentPort, router: 8080, workload: 8000 },
        startedAt: 1_700_000_001_000,
        uptimeMs: 65_000,
        load: 2,
        cloudListCalls: 3,
        workload: { state: 'running' },
        router: { inFlight: 0 },
        members: [{ id: 'i-00000000000000001', state: 'alive', role: 'worker', address: '127.0.0.1', agentPort, routerPort: 8080 }],
      }),
    );
  });
  await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
  agentPort = (agent.address() as AddressInfo).port;
  // A port nothing listens on: the "agent" there refuses at once (unreachable).
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
after(async () => {
  await new Promise<void>((resolve) => agent.close(() => resolve()));
});

function fleet(): FakeEc2Instance[] {
  const tags = (role: string, port: number) => ({ SynktiCluster: 'prod', SynktiRole: role, SynktiPortAgent: String(port) });
  return [
    { id: 'i-00000000000000001', state: 'running', tags: tags('worker', agentPort), privateIp: '127.0.0.1', launchedAt: 1_700_000_001_000 },
    {
      id: 'i-00000000000000002',
      state: 'running',
      tags: tags('worker', closedPort),
      privateIp: '127.0.0.1',
      launchedAt: 1_700_000_002_000,
    },
    { id: 'i-00000000000000003', state: 'pending', tags: tags('worker', closedPort), privateIp: '', launchedAt: 1_700_000_003_000 },
    {
      id: 'i-00000000000000004',
      state: 'running',
      tags: { SynktiCluster: 'other', SynktiRole: 'worker' },
      privateIp: '127.0.0.1',
      launchedAt: 1_700_000_000_000,
    },
    { id: 'i-00000000000000005', state: 'terminated', tags: tags('worker', closedPort), privateIp: '', launchedAt: 1_700_000_000_500 },
  ];
}

describe('synkti status on aws (EC2 mocked)', () => {
  it('lists the cluster by tag across pages; a reachable agent adds its status, others show EC2 state', async () => {
    const { client, mock } = fakeEc2(fleet(), 1);
    try {
      const result = await clusterStatus(SPEC, '/nonexistent/synkti.config.ts', {
        ec2Client: client,
        env: { SYNKTI_CLUSTER_SECRET: SECRET },
        agentTimeoutMs: 2000,
      });
      assert.equal(result.kind, 'aws');
      assert.equal(result.agentsAsked, true);
      assert.deepEqual(
        result.reports.map((r) => r.record.id),
        ['i-00000000000000001', 'i-00000000000000002', 'i-00000000000000003'],
        "only this cluster's live instances, oldest first",
      );

      const calls = mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
      assert.ok(calls.length >= 3, `paginated: ${calls.length} DescribeInstances calls for 3 instances at 1 per page`);
      for (const input of calls) {
        assert.deepEqual(
          input.Filters?.find((f) => f.Name === 'tag:SynktiCluster')?.Values,
          ['prod'],
          'always filtered by the cluster tag',
        );
        assert.ok(
          input.Filters?.some((f) => f.Name === 'instance-state-name'),
          'and by state',
        );
      }
      assert.ok(
        calls.slice(1).every((input) => input.NextToken),
        'later calls carry NextToken',
      );

      assert.equal(result.reports[0]!.status?.state, 'ready');
      assert.equal(result.reports[1]!.status, undefined);
      assert.ok(seenAuth.includes(`Bearer ${SECRET}`), 'the agent was asked with the cluster secret');

      const json = reportsToJson(result.reports) as Record<string, unknown>[];
      assert.deepEqual(
        json.map((n) => [n.id, n.instanceState, n.state, n.reachable]),
        [
          ['i-00000000000000001', 'running', 'ready', true],
          ['i-00000000000000002', 'running', 'unreachable', false],
          ['i-00000000000000003', 'pending', 'unreachable', false],
        ],
      );
      assert.deepEqual(Object.keys(json[0]!).sort(), Object.keys(json[1]!).sort(), 'one shape for every node');
      assert.equal(json[0]!.load, 2);
      assert.deepEqual(json[0]!.members, ['i-00000000000000001']);

      const table = renderNodeTable(result.reports, { kind: result.kind });
      const lines = table.split('\n');
      assert.match(lines[0]!, /^ID\s+ROLE\s+STATE\s+AGENT/);
      assert.match(lines[1]!, /^i-00000000000000001\s+worker\s+ready\s+127\.0\.0\.1:\d+\s+8080\s+us-east-1a\s/);
      assert.match(lines[2]!, /i-00000000000000002\s+worker\s+ec2:running/);
      assert.match(lines[3]!, /i-00000000000000003\s+worker\s+ec2:pending\s+-/);
    } finally {
      mock.restore();
    }
  });

  it('without a cluster secret no agent is asked: EC2 state only', async () => {
    const { client, mock } = fakeEc2(fleet());
    const before = seenAuth.length;
    try {
      const result = await clusterStatus(SPEC, '/nonexistent/synkti.config.ts', { ec2Client: client, env: {} });
      assert.equal(result.agentsAsked, false);
      assert.equal(seenAuth.length, before, 'no request reached the agent');
      assert.deepEqual(
        result.reports.map((r) => r.status),
        [undefined, undefined, undefined],
      );
      assert.match(renderNodeTable(result.reports, { kind: 'aws' }), /i-00000000000000001\s+worker\s+ec2:running/);
    } finally {
      mock.restore();
    }
  });
});
