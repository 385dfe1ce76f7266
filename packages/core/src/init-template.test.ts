import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config-error.ts';
import { STAND_IN_COMMAND, initTemplate } from './init-template.ts';
import { loadClusterConfig } from './load-config.ts';

/**
 * Outside the repository, as a newcomer's scratch directory is: the template's
 * `import ... from '@synkti/core'` must load where the package does not resolve.
 */
function projectDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-init-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the starter config loads and validates: 3 small spot workers serving the stand-in', async (t) => {
  const dir = projectDir(t);
  writeFileSync(join(dir, 'synkti.config.ts'), initTemplate({ name: 'starter' }));
  const { spec } = await loadClusterConfig({ cwd: dir });
  assert.equal(spec.name, 'starter');
  assert.equal(spec.provider, 'local');
  assert.deepEqual(Object.keys(spec.pools), ['worker']);
  const worker = spec.pools.worker!;
  assert.equal(worker.count, 3);
  assert.equal(worker.size, 'small');
  assert.equal(worker.lifecycle, 'spot');
  assert.deepEqual(spec.workload!.command, STAND_IN_COMMAND);
  // Placeholders each agent fills from its own package: no path of this machine in the file.
  assert.deepEqual(STAND_IN_COMMAND, ['{node}', '--import', '{tsx}', '{standIn}', '--host', '{host}', '--port', '{port}']);
  assert.equal(spec.workload!.port, 8000);
  assert.equal(spec.workload!.healthPath, '/health');
});

test('a custom workload command is written into the template', async (t) => {
  const dir = projectDir(t);
  const command = ['python3', '-m', 'my_server', '--port', '{port}', 'it\'s "quoted"'];
  writeFileSync(join(dir, 'synkti.config.ts'), initTemplate({ name: 'custom', workloadCommand: command }));
  const { spec } = await loadClusterConfig({ cwd: dir });
  assert.deepEqual(spec.workload!.command, command);
});

test('every optional field shown commented out is valid when uncommented', async (t) => {
  const dir = projectDir(t);
  // "  // region: 'us-east-1'," -> "  region: 'us-east-1',", leaving prose and the vLLM block alone.
  const uncommented = initTemplate({ name: 'all-fields' }).replace(/^(\s*)\/\/ (\w+: )/gm, '$1$2');
  assert.notEqual(uncommented, initTemplate({ name: 'all-fields' }));
  writeFileSync(join(dir, 'synkti.config.ts'), uncommented);
  const { spec } = await loadClusterConfig({ cwd: dir });
  assert.equal(spec.region, 'us-east-1');
  assert.deepEqual(spec.pools.worker!.instanceTypes, ['g5.xlarge', 'g6.xlarge']);
  assert.deepEqual(spec.pools.worker!.zones, ['us-east-1a', 'us-east-1b']);
  assert.deepEqual(spec.workload!.env, { HF_HOME: '/data/hf' });
  assert.equal(spec.timeouts.requestTimeoutMs, 300_000);
  assert.equal(spec.membership.listers, 2);
});

test('the template uses defineCluster, shows a vLLM example and mentions every field', () => {
  const text = initTemplate({ name: 'starter' });
  assert.match(text, /^import \{ defineCluster \} from '@synkti\/core';$/m);
  assert.doesNotMatch(text, /\/work\/|\/home\/|node_modules|packages\//, 'no path of the machine that wrote it');
  assert.match(text, /^export default defineCluster\(\{$/m);
  assert.match(text, /\/\/ +command: \['vllm', 'serve', 'Qwen\/Qwen2\.5-7B-Instruct', '--host', '\{host\}', '--port', '\{port\}'\]/);
  assert.match(text, /\/\/ +healthPath: '\/health'/);
  const fields = [
    'name',
    'provider',
    'region',
    'pools',
    'count',
    'size',
    'instanceType',
    'instanceTypes',
    'lifecycle',
    'onDemandBase',
    'zones',
    'workload',
    'command',
    'port',
    'healthPath',
    'env',
    'startupTimeout',
    'ports',
    'timeouts',
    'gossipInterval',
    'failureTimeout',
    'listInterval',
    'noticePollInterval',
    'drainMargin',
    'shutdownGrace',
    'requestTimeout',
    'membership',
    'listers',
  ];
  for (const field of fields) assert.match(text, new RegExp(`\\b${field}: `), `mentions ${field}`);
  // Each active field line carries a comment on it or on a line just above.
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!/^\s+\w+: /.test(line) || line.includes('//')) return;
    const above = lines.slice(Math.max(0, i - 3), i).join('\n');
    assert.match(above, /\/\//, `line ${i + 1} (${line.trim()}) is commented`);
  });
});

test('a bad cluster name is refused before a file is written', () => {
  assert.throws(
    () => initTemplate({ name: 'My_Fleet' }),
    (e: unknown) => e instanceof ConfigError && e.issues[0]!.path === 'name' && /--name my-fleet/.test(e.issues[0]!.hint),
  );
});
