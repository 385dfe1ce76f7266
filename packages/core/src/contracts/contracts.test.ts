import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_API_PATHS, BATCH_METRICS, PIPELINE_METRICS, ROUTER_HEALTH_PATH, parseAgentStatus, MAX_STATUS_MEMBERS } from './index.ts';

const status = {
  id: 'i-0abc',
  cluster: 'demo',
  role: 'worker',
  zone: 'local-a',
  state: 'ready',
  pid: 42,
  address: '127.0.0.1',
  ports: { agent: 7946, router: 8080, workload: 8000 },
  startedAt: 1,
  uptimeMs: 10,
  load: 0,
  members: [
    { id: 'i-0abc', role: 'worker', state: 'ready', address: '127.0.0.1', agentPort: 7946, routerPort: 8080, zone: 'local-a', load: 0 },
  ],
  cloudListCalls: 3,
  workload: { state: 'running', restarts: 0 },
  router: { inFlight: 1 },
  model: {
    uri: 's3://b/models/m',
    state: 'ready',
    path: '/m',
    files: 1,
    filesDone: 1,
    bytes: 5,
    bytesDone: 5,
    bytesFetched: 5,
    reused: false,
  },
};

test('the values other processes depend on do not change by accident', () => {
  // Load balancers, CloudWatch alarms and scaling policies already deployed name these.
  assert.equal(ROUTER_HEALTH_PATH, '/_synkti/router/health');
  assert.equal(AGENT_API_PATHS.status, '/status');
  assert.deepEqual(
    [BATCH_METRICS.namespace, BATCH_METRICS.backlogPerWorker, BATCH_METRICS.dimension],
    ['Synkti/Batch', 'BacklogPerWorker', 'Cluster'],
  );
  assert.deepEqual(
    [PIPELINE_METRICS.namespace, PIPELINE_METRICS.readyTasks, PIPELINE_METRICS.claimedTasks],
    ['Synkti/Pipelines', 'ReadyTasks', 'ClaimedTasks'],
  );
});

test('parseAgentStatus keeps a real status and drops fields it does not name', () => {
  const parsed = parseAgentStatus({ ...status, injected: '<script>' });
  assert.ok(parsed);
  assert.equal(parsed.members[0]!.routerPort, 8080);
  assert.equal(parsed.model?.state, 'ready');
  assert.equal('injected' in parsed, false);
});

test('parseAgentStatus refuses what is not a status, and bounds what a peer can send', () => {
  assert.equal(parseAgentStatus(undefined), undefined);
  assert.equal(parseAgentStatus({ ...status, ports: { agent: 70_000, router: 1, workload: 1 } }), undefined);
  assert.equal(parseAgentStatus({ ...status, state: 'x'.repeat(10_000) }), undefined);
  const many = Array.from({ length: MAX_STATUS_MEMBERS + 1 }, () => status.members[0]);
  assert.equal(parseAgentStatus({ ...status, members: many }), undefined);
});
