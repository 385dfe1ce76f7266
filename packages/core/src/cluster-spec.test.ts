import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error.ts';
import { validateCluster } from './cluster-spec.ts';
import { deserializeCluster, serializeCluster } from './cluster-serialization.ts';
import { SynktiError } from './errors.ts';

const base = () => ({ name: 'demo', pools: { worker: { count: 3 } } });

function problems(input: unknown): ConfigError {
  try {
    validateCluster(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in the message');
    for (const issue of error.issues) assert.ok(issue.hint.length > 0, `${issue.path} has a hint`);
    return error;
  }
  assert.fail('the config was accepted');
}

function expectIssue(input: unknown, path: string, message: RegExp, hint?: RegExp): void {
  const error = problems(input);
  const issue = error.issues.find((i) => i.path === path);
  assert.ok(issue, `an issue at ${path}; got ${error.issues.map((i) => i.path).join(', ')}`);
  assert.match(issue.message, message);
  if (hint) assert.match(issue.hint, hint);
  assert.ok(error.message.includes(path), 'the message names the field');
}

describe('invalid configs name the field and say how to fix it', () => {
  test('unknown top-level field suggests the right one', () => {
    expectIssue({ name: 'demo', pool: { worker: { count: 1 } } }, 'pool', /unknown field/, /did you mean "pools"/);
  });
  test('unknown pool field', () => {
    expectIssue({ name: 'demo', pools: { worker: { cuont: 1, count: 1 } } }, 'pools.worker.cuont', /unknown field/, /did you mean "count"/);
  });
  test('wrong type', () => {
    expectIssue({ name: 'demo', pools: { worker: { count: '3' } } }, 'pools.worker.count', /expected a number, got the text "3"/, /count: 3/);
  });
  test('negative count', () => {
    expectIssue({ name: 'demo', pools: { worker: { count: -1 } } }, 'pools.worker.count', /at least 0, got -1/);
  });
  test('non-integer count', () => {
    expectIssue({ name: 'demo', pools: { worker: { count: 2.5 } } }, 'pools.worker.count', /whole number/);
  });
  test('port clash', () => {
    expectIssue({ ...base(), ports: { agent: 9000, router: 9000 } }, 'ports.router', /also ports.agent/, /different ports/);
  });
  test('workload port clashing with the router', () => {
    expectIssue({ ...base(), workload: { command: 'x', port: 8080 } }, 'workload.port', /also ports.router/);
  });
  test('port out of range', () => {
    expectIssue({ ...base(), ports: { router: 70000 } }, 'ports.router', /at most 65535/);
  });
  test('missing workload command', () => {
    expectIssue({ ...base(), workload: { port: 8000 } }, 'workload.command', /required/, /command:/);
  });
  test('empty workload command', () => {
    expectIssue({ ...base(), workload: { command: [] } }, 'workload.command', /non-empty|must not be empty/);
  });
  test('bad duration text', () => {
    expectIssue({ ...base(), timeouts: { failureTimeout: 'five seconds' } }, 'timeouts.failureTimeout', /not a duration/, /30 seconds/);
  });
  test('failure timeout not longer than the gossip interval', () => {
    expectIssue({ ...base(), timeouts: { gossipInterval: '2s', failureTimeout: '1s' } }, 'timeouts.failureTimeout', /not longer than the gossip interval/);
  });
  test('more on-demand base than nodes', () => {
    expectIssue({ name: 'demo', pools: { worker: { count: 2, onDemandBase: 3 } } }, 'pools.worker.onDemandBase', /more than the pool's count/);
  });
  test('bad cluster name', () => {
    expectIssue({ ...base(), name: 'My_Fleet' }, 'name', /lowercase/);
  });
  test('no pools', () => {
    expectIssue({ name: 'demo', pools: {} }, 'pools', /no pools/);
  });
  test('missing name', () => {
    expectIssue({ pools: { worker: { count: 1 } } }, 'name', /required/);
  });
  test('unknown provider', () => {
    expectIssue({ ...base(), provider: 'gcp' }, 'provider', /not one of/, /local, aws/);
  });
  test('not an object at all', () => {
    const error = problems('nope');
    assert.match(error.message, /must be an object/);
  });
  test('several problems are reported together', () => {
    const error = problems({ name: 'Bad Name', pools: { worker: { count: -2, size: 'huge' } }, extra: 1 });
    const paths = error.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['extra', 'name', 'pools.worker.count', 'pools.worker.size']);
    assert.match(error.message, /has 4 problems/);
  });
});

describe('valid configs', () => {
  test('defaults are filled and durations are milliseconds', () => {
    const spec = validateCluster(base());
    assert.equal(spec.provider, 'local');
    assert.equal(spec.region, 'local');
    assert.deepEqual(spec.ports, { agent: 7946, router: 8080 });
    assert.equal(spec.timeouts.gossipIntervalMs, 1000);
    assert.equal(spec.timeouts.failureTimeoutMs, 5000);
    assert.equal(spec.pools.worker!.lifecycle, 'spot');
    assert.equal(spec.pools.worker!.instanceType, 'local.small');
    assert.equal(spec.workload, undefined);
  });
  test('sizes map to instance types per provider, a string command runs through sh', () => {
    const spec = validateCluster({ name: 'gpu-fleet', provider: 'aws', pools: { gpu: { count: 2, size: 'gpu' } }, workload: { command: 'vllm serve m --port {port}', startupTimeout: '15 minutes' } });
    assert.equal(spec.region, 'us-east-1');
    assert.equal(spec.pools.gpu!.instanceType, 'g5.xlarge');
    assert.deepEqual(spec.pools.gpu!.instanceTypes, ['g5.xlarge', 'g6.xlarge', 'g4dn.xlarge']);
    assert.deepEqual(spec.workload!.command, ['sh', '-c', 'vllm serve m --port {port}']);
    assert.equal(spec.workload!.startupTimeoutMs, 900_000);
    assert.equal(spec.workload!.port, 8000);
  });
  test('the spec survives the trip through user data, and tampering is refused', () => {
    const spec = validateCluster({ ...base(), workload: { command: ['a', 'b'] } });
    assert.deepEqual(deserializeCluster(serializeCluster(spec)), spec);
    const tampered = JSON.parse(serializeCluster(spec)) as { spec: { ports: { agent: unknown } } };
    tampered.spec.ports.agent = 'x';
    assert.throws(() => deserializeCluster(JSON.stringify(tampered)), (e: unknown) => e instanceof SynktiError && e.code === 'E_CONFIG_DATA');
    assert.throws(() => deserializeCluster('not json'), SynktiError);
  });
});
