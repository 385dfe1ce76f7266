import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error.ts';
import { validateCluster } from './cluster-spec.ts';
import { deserializeCluster, serializeCluster } from './cluster-serialization.ts';
import { SynktiError } from './errors.ts';
import { TARGET_GROUP_ARN_EXAMPLE } from './load-balancer-spec.ts';

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
    expectIssue(
      { name: 'demo', pools: { worker: { count: '3' } } },
      'pools.worker.count',
      /expected a number, got the text "3"/,
      /count: 3/,
    );
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
    expectIssue(
      { ...base(), timeouts: { gossipInterval: '2s', failureTimeout: '1s' } },
      'timeouts.failureTimeout',
      /not longer than the gossip interval/,
    );
  });
  test('more on-demand base than nodes', () => {
    expectIssue(
      { name: 'demo', pools: { worker: { count: 2, onDemandBase: 3 } } },
      'pools.worker.onDemandBase',
      /more than the pool's count/,
    );
  });
  test('bad cluster name', () => {
    expectIssue({ ...base(), name: 'My_Fleet' }, 'name', /lowercase/);
  });
  test('uppercase cluster name', () => {
    expectIssue({ ...base(), name: 'Demo' }, 'name', /lowercase/, /my-fleet/);
  });
  test('underscore in the cluster name', () => {
    expectIssue({ ...base(), name: 'my_fleet' }, 'name', /lowercase/, /my-fleet/);
  });
  test('cluster name ending in a dash or too long', () => {
    expectIssue({ ...base(), name: 'fleet-' }, 'name', /lowercase/);
    expectIssue({ ...base(), name: `a${'b'.repeat(40)}` }, 'name', /2-40/);
  });
  test('bad pool name', () => {
    expectIssue({ name: 'demo', pools: { Worker_1: { count: 1 } } }, 'pools.Worker_1', /pool names must be lowercase/);
  });
  test('a pool that is not an object', () => {
    expectIssue({ name: 'demo', pools: { worker: 3 } }, 'pools.worker', /expected an object, got number 3/, /worker: \{ count: 3 \}/);
  });
  test('unknown field in timeouts suggests the right one', () => {
    expectIssue(
      { ...base(), timeouts: { gosipInterval: '1s' } },
      'timeouts.gosipInterval',
      /unknown field/,
      /did you mean "gossipInterval"/,
    );
  });
  test('an unknown field with no close match lists the allowed ones', () => {
    expectIssue({ ...base(), zzzzzzzz: 1 }, 'zzzzzzzz', /unknown field/, /allowed fields here: name, provider/);
  });
  test('empty program in an argument list', () => {
    expectIssue({ ...base(), workload: { command: ['', '--port', '8000'] } }, 'workload.command', /program to run\) is empty/);
  });
  test('blank command string', () => {
    expectIssue({ ...base(), workload: { command: '   ' } }, 'workload.command', /must not be empty/);
  });
  test('health path without a leading slash', () => {
    expectIssue({ ...base(), workload: { command: 'x', healthPath: 'health' } }, 'workload.healthPath', /start with "\/"/);
  });
  test('workload env values must be text', () => {
    expectIssue({ ...base(), workload: { command: 'x', env: { THREADS: 4 } } }, 'workload.env.THREADS', /expected a string, got number 4/);
  });
  test('negative duration in milliseconds', () => {
    expectIssue({ ...base(), timeouts: { drainMargin: -5 } }, 'timeouts.drainMargin', /not a duration/);
  });
  test('zero polling interval', () => {
    expectIssue({ ...base(), timeouts: { noticePollInterval: 0 } }, 'timeouts.noticePollInterval', /more than 0/, /5s/);
  });
  test('bad startup timeout', () => {
    expectIssue({ ...base(), workload: { command: 'x', startupTimeout: 'forever' } }, 'workload.startupTimeout', /not a duration/);
  });
  test('failure timeout equal to the gossip interval', () => {
    expectIssue(
      { ...base(), timeouts: { gossipInterval: 1000, failureTimeout: '1s' } },
      'timeouts.failureTimeout',
      /not longer than the gossip interval/,
    );
  });
  test('failure timeout shorter than the default gossip interval', () => {
    expectIssue({ ...base(), timeouts: { failureTimeout: '500ms' } }, 'timeouts.failureTimeout', /not longer than the gossip interval/);
  });
  test('all pools together over the node limit', () => {
    expectIssue(
      { name: 'demo', pools: { a: { count: 6000 }, b: { count: 6000 } } },
      'pools',
      /12000 nodes in all is more than 10000/,
      /several clusters/,
    );
  });
  test('one pool over the node limit', () => {
    expectIssue({ name: 'demo', pools: { a: { count: 10_001 } } }, 'pools.a.count', /at most 10000/);
  });
  test('listers out of range', () => {
    expectIssue({ ...base(), membership: { listers: 0 } }, 'membership.listers', /at least 1/, /listers: 2/);
    expectIssue({ ...base(), membership: { listers: 17 } }, 'membership.listers', /at most 16/);
  });
  test('instanceTypes that do not start with instanceType', () => {
    expectIssue(
      { name: 'demo', pools: { gpu: { count: 1, instanceType: 'g5.xlarge', instanceTypes: ['g6.xlarge'] } } },
      'pools.gpu.instanceTypes',
      /not instanceType/,
    );
  });
  test('unknown size and lifecycle', () => {
    expectIssue(
      { name: 'demo', pools: { worker: { count: 1, size: 'huge' } } },
      'pools.worker.size',
      /not one of/,
      /small, medium, large, gpu/,
    );
    expectIssue(
      { name: 'demo', pools: { worker: { count: 1, lifecycle: 'spots' } } },
      'pools.worker.lifecycle',
      /not one of/,
      /spot, on-demand/,
    );
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
  test('cross-field problems are reported together with type problems', () => {
    const error = problems({
      name: 'demo',
      pools: { worker: { count: '3' }, gpu: { count: 1, onDemandBase: 2 } },
      ports: { agent: 9000, router: 9000 },
      timeouts: { gossipInterval: '2s', failureTimeout: '1s', listInterval: 'often' },
    });
    assert.deepEqual(error.issues.map((i) => i.path).sort(), [
      'pools.gpu.onDemandBase',
      'pools.worker.count',
      'ports.router',
      'timeouts.failureTimeout',
      'timeouts.listInterval',
    ]);
  });
  test('a bad field is not checked again by the cross-field checks', () => {
    // A malformed gossip interval is reported once, not also as "failureTimeout too short".
    const error = problems({ ...base(), timeouts: { gossipInterval: 'xx', failureTimeout: '1s' } });
    assert.deepEqual(
      error.issues.map((i) => i.path),
      ['timeouts.gossipInterval'],
    );
  });
  test('the message is a readable block: header, one line per problem, a hint under each', () => {
    const error = problems({ name: 'demo', pools: { worker: { count: -1, cuont: 1 } } });
    assert.equal(error.code, 'E_CONFIG');
    assert.ok(error instanceof SynktiError);
    const lines = error.message.split('\n');
    assert.equal(lines[0], 'synkti.config.ts has 2 problems:');
    assert.match(lines[1]!, /^ {2}- pools\.worker\.\w+: /);
    assert.match(lines[2]!, /^ {6}hint: /);
    assert.match(lines[3]!, /^ {2}- pools\.worker\.\w+: /);
    assert.match(lines[4]!, /^ {6}hint: /);
    assert.equal(lines.length, 5);
    assert.equal(error.toUserString(), error.message);
  });
  test('the source names the file in the header', () => {
    assert.throws(
      () => validateCluster({ name: 'demo' }, '/srv/fleet/synkti.config.ts'),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith('/srv/fleet/synkti.config.ts has 1 problem:\n'),
    );
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
    const spec = validateCluster({
      name: 'gpu-fleet',
      provider: 'aws',
      pools: { gpu: { count: 2, size: 'gpu' } },
      workload: { command: 'vllm serve m --port {port}', startupTimeout: '15 minutes' },
    });
    assert.equal(spec.region, 'us-east-1');
    assert.equal(spec.pools.gpu!.instanceType, 'g5.xlarge');
    assert.deepEqual(spec.pools.gpu!.instanceTypes, ['g5.xlarge', 'g6.xlarge', 'g4dn.xlarge']);
    assert.deepEqual(spec.workload!.command, ['sh', '-c', 'vllm serve m --port {port}']);
    assert.equal(spec.workload!.startupTimeoutMs, 900_000);
    assert.equal(spec.workload!.port, 8000);
  });
  test('every default is filled', () => {
    const spec = validateCluster({ ...base(), workload: { command: ['serve'] } });
    assert.deepEqual(spec, {
      name: 'demo',
      provider: 'local',
      region: 'local',
      pools: {
        worker: {
          count: 3,
          size: 'small',
          instanceType: 'local.small',
          instanceTypes: ['local.small'],
          lifecycle: 'spot',
          onDemandBase: 0,
          zones: undefined,
        },
      },
      workload: { command: ['serve'], port: 8000, healthPath: '/health', env: {}, startupTimeoutMs: 600_000 },
      ports: { agent: 7946, router: 8080 },
      timeouts: {
        gossipIntervalMs: 1000,
        failureTimeoutMs: 5000,
        listIntervalMs: 15_000,
        noticePollIntervalMs: 5000,
        drainMarginMs: 5000,
        shutdownGraceMs: 30_000,
        requestTimeoutMs: 300_000,
        maxStreamDurationMs: 30_000,
        balancerGraceMs: 5000,
      },
      membership: { listers: 2 },
      serve: { replaceOnRebalance: true },
    });
  });
  test('an explicit instance type wins over size; a fallback list starts with it', () => {
    const spec = validateCluster({
      name: 'mixed',
      provider: 'aws',
      region: 'eu-west-1',
      pools: {
        a: { count: 1, size: 'gpu', instanceType: 'p4d.24xlarge' },
        b: { count: 2, instanceTypes: ['c7i.large', 'c6i.large'], lifecycle: 'on-demand', onDemandBase: 2, zones: ['eu-west-1a'] },
        c: { count: 0, size: 'medium' },
      },
    });
    assert.equal(spec.region, 'eu-west-1');
    assert.equal(spec.pools.a!.instanceType, 'p4d.24xlarge');
    assert.deepEqual(spec.pools.a!.instanceTypes, ['p4d.24xlarge']);
    assert.equal(spec.pools.b!.instanceType, 'c7i.large');
    assert.deepEqual(spec.pools.b!.instanceTypes, ['c7i.large', 'c6i.large']);
    assert.equal(spec.pools.b!.lifecycle, 'on-demand');
    assert.deepEqual(spec.pools.b!.zones, ['eu-west-1a']);
    assert.equal(spec.pools.c!.instanceType, 'm6i.xlarge');
  });
  test('durations as text or milliseconds; ports and listers as given', () => {
    const spec = validateCluster({
      ...base(),
      workload: { command: ['x'], port: 9001, env: { A: 'b' } },
      ports: { agent: 9002, router: 9003 },
      timeouts: { gossipInterval: 250, failureTimeout: '2 seconds', requestTimeout: '1.5m' },
      membership: { listers: 3 },
    });
    assert.equal(spec.timeouts.gossipIntervalMs, 250);
    assert.equal(spec.timeouts.failureTimeoutMs, 2000);
    assert.equal(spec.timeouts.requestTimeoutMs, 90_000);
    assert.equal(spec.workload!.port, 9001);
    assert.deepEqual(spec.workload!.env, { A: 'b' });
    assert.deepEqual(spec.ports, { agent: 9002, router: 9003 });
    assert.equal(spec.membership.listers, 3);
  });
  test('the spec survives the trip through user data, and tampering is refused', () => {
    const spec = validateCluster({ ...base(), workload: { command: ['a', 'b'] } });
    assert.deepEqual(deserializeCluster(serializeCluster(spec)), spec);
    const tampered = JSON.parse(serializeCluster(spec)) as { spec: { ports: { agent: unknown } } };
    tampered.spec.ports.agent = 'x';
    assert.throws(
      () => deserializeCluster(JSON.stringify(tampered)),
      (e: unknown) => e instanceof SynktiError && e.code === 'E_CONFIG_DATA',
    );
    assert.throws(() => deserializeCluster('not json'), SynktiError);
  });
  test('user data with a missing field, an extra field or another format is refused', () => {
    const spec = validateCluster(base());
    const isDataError = (e: unknown) => e instanceof SynktiError && e.code === 'E_CONFIG_DATA' && typeof e.hint === 'string';
    const envelope = () => JSON.parse(serializeCluster(spec)) as { format: string; spec: Record<string, unknown> };
    const missing = envelope();
    delete missing.spec.timeouts;
    assert.throws(() => deserializeCluster(JSON.stringify(missing)), isDataError);
    const extra = envelope();
    extra.spec.rootPassword = 'x';
    assert.throws(() => deserializeCluster(JSON.stringify(extra)), isDataError);
    const format = envelope();
    format.format = 'synkti-cluster/v0';
    assert.throws(() => deserializeCluster(JSON.stringify(format)), isDataError);
    assert.throws(() => deserializeCluster('null'), isDataError);
    assert.deepEqual(deserializeCluster(serializeCluster(spec)), spec);
  });
});

const lbBase = { name: 'lb', provider: 'aws', pools: { worker: { count: 2 } } } as const;

test('serve.loadBalancer: defaults filled, carried in user data and validated again', () => {
  const spec = validateCluster({
    ...lbBase,
    serve: { loadBalancer: { targetGroupArns: [TARGET_GROUP_ARN_EXAMPLE, TARGET_GROUP_ARN_EXAMPLE] } },
  });
  assert.deepEqual(spec.serve.loadBalancer, {
    targetGroupArns: [TARGET_GROUP_ARN_EXAMPLE],
    targetType: 'instance',
    registerSelf: true,
    discover: false,
  });
  assert.deepEqual(deserializeCluster(serializeCluster(spec)).serve, spec.serve);
  assert.equal(validateCluster(lbBase).serve.loadBalancer, undefined, 'absent unless asked for');
  const tampered = JSON.parse(serializeCluster(spec)) as { spec: { serve: { loadBalancer: { targetGroupArns: string[] } } } };
  tampered.spec.serve.loadBalancer.targetGroupArns = ['arn:aws:iam::123456789012:role/admin'];
  assert.throws(() => deserializeCluster(JSON.stringify(tampered)), /serve\.loadBalancer\.targetGroupArns/);
});

test('serve.loadBalancer: a bad ARN and an unknown field are named with the fix', () => {
  try {
    validateCluster({
      ...lbBase,
      serve: {
        loadBalancer: {
          targetGroupArns: ['arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/0123456789abcdef'],
          targetTyp: 'ip',
        },
      },
    });
    assert.fail('accepted');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    const issues = error.issues.map((i) => [i.path, i.message, i.hint]);
    assert.ok(
      issues.some(
        ([path, message, hint]) =>
          path === 'serve.loadBalancer.targetGroupArns.0' && /is not a target group ARN/.test(message!) && /targetgroup\//.test(hint!),
      ),
      JSON.stringify(issues),
    );
    assert.ok(
      issues.some(([path, , hint]) => path === 'serve.loadBalancer.targetTyp' && hint === 'did you mean "targetType"?'),
      JSON.stringify(issues),
    );
  }
});
