import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TAG_CLUSTER, TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD, TAG_ROLE, isSynktiError } from '@synkti/core';
import { runInstanceProviderConformance } from '../../conformance/instances.ts';
import { runMetadataConformance } from '../../conformance/metadata.ts';
import { runObjectStoreConformance } from '../../conformance/object-store.ts';
import { createImdsClient } from '../../metadata/imds-client.ts';
import type { InstanceRecord, InstanceState } from '../../types.ts';
import { createLocalCloud, type LocalCloud } from './local-cloud.ts';
import type { LocalCloudOptions } from './local-instance-provider.ts';
import { isProcessAlive, processGroupMembers } from './proc.ts';
import { LocalRegistry } from './registry.ts';
import { createTempLocalCloud, killAllLocalInstances, type TempLocalCloud } from './testing/temp-local-cloud.ts';

const TSX = createRequire(import.meta.url).resolve('tsx');
const LAUNCH_FROM_CHILD = fileURLToPath(new URL('./testing/launch-from-child.ts', import.meta.url));
const ALL_STATES: InstanceState[] = ['pending', 'running', 'shutting-down', 'terminated'];

runInstanceProviderConformance('local', async () => {
  const temp = await createTempLocalCloud({ prefix: 'synkti-conf-instances-' });
  return {
    provider: temp.cloud.instances,
    cluster: 'conformance',
    cleanup: () => temp.destroy(),
    settleTimeoutMs: 15_000,
    pollIntervalMs: 50,
  };
});

runObjectStoreConformance('local', async () => {
  const temp = await createTempLocalCloud({ prefix: 'synkti-conf-objects-' });
  return { store: temp.cloud.objects, cleanup: () => temp.destroy() };
});

// The registry-backed metadata source behind a real instance host's metadata server,
// read through the IMDSv2 client: the path every local agent uses.
let metadataInstance: Promise<{ temp: TempLocalCloud; record: InstanceRecord; endpoint: string }> | undefined;
after(async () => {
  if (metadataInstance) await (await metadataInstance).temp.destroy();
});
runMetadataConformance('local instance host', async () => {
  metadataInstance ??= (async () => {
    const temp = await createTempLocalCloud({ prefix: 'synkti-conf-metadata-' });
    const record = await temp.cloud.instances.launch({
      tags: { [TAG_CLUSTER]: 'meta', [TAG_ROLE]: 'worker', SynktiExtra: 'x y' },
      instanceType: 'local.medium',
      lifecycle: 'spot',
      userData: '{"cluster":"meta"}',
    });
    await waitState(temp.cloud, record.id, 'running');
    return { temp, record, endpoint: temp.cloud.metadataEndpointOf(record.id)! };
  })();
  const { temp, record, endpoint } = await metadataInstance;
  const registry = LocalRegistry.open(temp.stateDir);
  return {
    metadata: createImdsClient({ endpoint }),
    expected: {
      identity: { instanceId: record.id, instanceType: 'local.medium', region: 'local', zone: record.zone, privateIp: '127.0.0.1' },
      tags: record.tags,
      userData: '{"cluster":"meta"}',
    },
    setNotice: async (notice) => registry.setNotice(record.id, notice),
    setRebalance: async (rec) => registry.setRebalance(record.id, rec?.noticeTime ?? null),
    cleanup: async () => {
      registry.setNotice(record.id, null);
      registry.setRebalance(record.id, null);
      registry.close();
    },
  };
});

// The default bounds are "did it hang" ones: an instance host starts through tsx, which on a
// loaded machine takes seconds.
async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function recordOf(cloud: LocalCloud, id: string): Promise<InstanceRecord | undefined> {
  return (await cloud.instances.list({ ids: [id], states: ALL_STATES })).items[0];
}

function waitState(cloud: LocalCloud, id: string, state: InstanceState, timeoutMs = 30_000): Promise<InstanceRecord> {
  return waitFor(
    `${id} to be ${state}`,
    async () => {
      const record = await recordOf(cloud, id);
      return record?.state === state ? record : undefined;
    },
    timeoutMs,
  );
}

function launchOne(cloud: LocalCloud, role = 'worker', extra: Record<string, string> = {}): Promise<InstanceRecord> {
  return cloud.instances.launch({
    tags: { [TAG_CLUSTER]: 'test', [TAG_ROLE]: role, ...extra },
    instanceType: 'local.small',
    lifecycle: 'spot',
  });
}

/**
 * Runs a node script under tsx; resolves with its exit code and output. The bound is only
 * a "did it hang" one: starting tsx is CPU work, and 4 children at once on a loaded 2-core
 * machine (load ~30) took over 30 s, so it is generous.
 */
function runNode(args: string[], timeoutMs = 180_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A boot command that writes `boot-<pid>.ready` in $OUT_DIR when it starts and
 * `boot-<pid>.sigterm` when it gets SIGTERM (then exits 0, or ignores it if asked: then it
 * runs on, appending a line to `boot-<pid>.after-sigterm` every 20 ms, its own evidence
 * that it kept running after SIGTERM, whatever the moment a test looks).
 */
function markerBoot(options: { ignoreSigterm?: boolean } = {}): string[] {
  const onTerm = options.ignoreSigterm
    ? "fs.writeFileSync(p + '.sigterm', ''); setInterval(() => fs.appendFileSync(p + '.after-sigterm', Date.now() + '\\n'), 20);"
    : "fs.writeFileSync(p + '.sigterm', ''); process.exit(0);";
  return [
    process.execPath,
    '-e',
    `
    const fs = require('fs');
    const p = require('path').join(process.env.OUT_DIR, 'boot-' + process.pid);
    process.on('SIGTERM', () => { ${onTerm} });
    fs.writeFileSync(p + '.ready', '');
    setInterval(() => {}, 1e9);
  `,
  ];
}

/** A temp cloud whose boot command can write into an output directory of its own. */
async function cloudWithOutDir(
  t: TestContext,
  options: Partial<LocalCloudOptions> = {},
): Promise<{ temp: TempLocalCloud; outDir: string }> {
  const outDir = await mkdtemp(join(tmpdir(), 'synkti-local-out-'));
  const temp = await createTempLocalCloud({ ...options, env: { ...options.env, OUT_DIR: outDir } });
  t.after(async () => {
    await temp.destroy();
    await rm(outDir, { recursive: true, force: true });
  });
  return { temp, outDir };
}

function bootPids(outDir: string, suffix = '.ready'): number[] {
  return readdirSync(outDir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => Number(f.slice('boot-'.length, -suffix.length)));
}

describe('local cloud', { concurrency: true }, () => {
  it('instances outlive the process that launched them', async (t) => {
    const temp = await createTempLocalCloud();
    t.after(() => temp.destroy());
    const child = await runNode([LAUNCH_FROM_CHILD, '--state-dir', temp.stateDir, '--cluster', 'test', '--role', 'survivor']);
    assert.equal(child.code, 0, child.stderr);
    const [launched] = JSON.parse(child.stdout) as InstanceRecord[];
    assert.ok(launched);
    const running = await waitState(temp.cloud, launched.id, 'running');
    assert.equal(running.tags[TAG_ROLE], 'survivor');
    const hostPid = temp.cloud.instances.hostPid(launched.id);
    assert.ok(hostPid !== undefined && isProcessAlive(hostPid), 'the host runs on after its launcher exited');
    // The boot command runs in the host's group: at least host + boot.
    await waitFor('the boot command to run', () => processGroupMembers(hostPid).length >= 2);
    const listed = await temp.cloud.instances.list({ tags: { [TAG_CLUSTER]: 'test' } });
    assert.deepEqual(
      listed.items.map((r) => r.id),
      [launched.id],
    );
  });

  it('kill(id) takes down the whole process group at once; list then reports Server.InternalError', async (t) => {
    const temp = await createTempLocalCloud();
    t.after(() => temp.destroy());
    const record = await launchOne(temp.cloud);
    await waitState(temp.cloud, record.id, 'running');
    const pgid = temp.cloud.instances.hostPid(record.id)!;
    await waitFor('the boot command to run', () => processGroupMembers(pgid).length >= 2);
    await temp.cloud.instances.kill(record.id);
    assert.deepEqual(processGroupMembers(pgid), [], 'no process of the instance is left');
    const after = await recordOf(temp.cloud, record.id);
    assert.equal(after?.state, 'terminated');
    assert.equal(after?.stateReason, 'Server.InternalError');
    assert.deepEqual(after?.tags, {}, 'a terminated instance keeps no tags');
    assert.deepEqual((await temp.cloud.instances.list({ tags: { [TAG_CLUSTER]: 'test' } })).items, []);
  });

  it('preempt: the notice shows in metadata at once; at its time the instance is SIGKILLed (Server.SpotInstanceTermination)', async (t) => {
    const { temp, outDir } = await cloudWithOutDir(t, { bootCommand: markerBoot() });
    const record = await launchOne(temp.cloud);
    await waitState(temp.cloud, record.id, 'running');
    const [bootPid] = await waitFor('the boot command to start', () => {
      const p = bootPids(outDir);
      return p.length ? p : undefined;
    });
    const metadata = createImdsClient({ endpoint: temp.cloud.metadataEndpointOf(record.id)! });
    assert.equal(await metadata.interruptionNotice(), null);

    const notice = await temp.cloud.instances.preempt(record.id, { noticeInMs: 1000 });
    const seen = await metadata.interruptionNotice();
    assert.equal(seen?.action, 'terminate');
    assert.ok(Math.abs(seen.time - notice.time) < 1000, 'the metadata shows the notice time (second precision)');
    const gone = await waitState(temp.cloud, record.id, 'terminated', 8000);
    const elapsed = Date.now() - (notice.time - 1000);
    assert.equal(gone.stateReason, 'Server.SpotInstanceTermination');
    assert.ok(elapsed >= 950 && elapsed < 4000, `reclaimed ${elapsed} ms after the 1 s notice`);
    assert.equal(isProcessAlive(bootPid!), false, 'the boot command is dead');
    assert.equal(existsSync(join(outDir, `boot-${bootPid}.sigterm`)), false, 'it was SIGKILLed, never SIGTERMed');
    await waitFor(
      'the instance process group to be gone',
      () => processGroupMembers(temp.cloud.instances.hostPid(record.id)!).length === 0,
    );
    await assert.rejects(temp.cloud.instances.preempt(record.id), (e: unknown) => isSynktiError(e, 'E_INSTANCE_NOT_RUNNING'));
  });

  it('terminate sends SIGTERM to the boot command and ends Client.UserInitiatedShutdown', async (t) => {
    const { temp, outDir } = await cloudWithOutDir(t, { bootCommand: markerBoot() });
    const record = await launchOne(temp.cloud);
    await waitState(temp.cloud, record.id, 'running');
    const [bootPid] = await waitFor('the boot command to start', () => {
      const p = bootPids(outDir);
      return p.length ? p : undefined;
    });
    await temp.cloud.instances.terminate([record.id]);
    const gone = await waitState(temp.cloud, record.id, 'terminated');
    assert.equal(gone.stateReason, 'Client.UserInitiatedShutdown');
    assert.ok(existsSync(join(outDir, `boot-${bootPid}.sigterm`)), 'the boot command received SIGTERM');
    assert.equal(isProcessAlive(bootPid!), false);
    await waitFor('the host to exit', () => !isProcessAlive(temp.cloud.instances.hostPid(record.id)!));
    assert.match(readFileSync(temp.cloud.instances.consoleLogPath(record.id), 'utf8'), /shutting down: SIGTERM/);
  });

  it('terminate SIGKILLs a boot command that ignores SIGTERM once terminateGraceMs has passed', async (t) => {
    // A 1.5 s grace (not 0.6 s): the boot command must get the CPU at least twice in it (its
    // SIGTERM handler, then one heartbeat), which on a loaded machine can take a while.
    const { temp, outDir } = await cloudWithOutDir(t, { bootCommand: markerBoot({ ignoreSigterm: true }), terminateGraceMs: 1500 });
    const record = await launchOne(temp.cloud);
    await waitState(temp.cloud, record.id, 'running');
    const [bootPid] = await waitFor('the boot command to start', () => {
      const p = bootPids(outDir);
      return p.length ? p : undefined;
    });
    const started = Date.now();
    await temp.cloud.instances.terminate([record.id]);
    await waitFor('SIGTERM to reach the boot command', () => bootPids(outDir, '.sigterm').includes(bootPid!));
    const gone = await waitState(temp.cloud, record.id, 'terminated');
    const elapsed = Date.now() - started;
    assert.equal(gone.stateReason, 'Client.UserInitiatedShutdown');
    assert.ok(elapsed >= 1450, `terminated after ${elapsed} ms, before the 1500 ms grace was over`);
    // It ignored SIGTERM and ran on (its own heartbeat after SIGTERM), and the host found it
    // still there when the grace was over, rather than sampling it at one moment.
    assert.ok(bootPids(outDir, '.after-sigterm').includes(bootPid!), 'it ignores SIGTERM and runs on during the grace period');
    assert.match(readFileSync(temp.cloud.instances.consoleLogPath(record.id), 'utf8'), /grace period of 1500 ms over: SIGKILL/);
    assert.equal(isProcessAlive(bootPid!), false, 'SIGKILLed after the grace period');
    const beats = readFileSync(join(outDir, `boot-${bootPid}.after-sigterm`), 'utf8');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(readFileSync(join(outDir, `boot-${bootPid}.after-sigterm`), 'utf8'), beats, 'no heartbeat once it was SIGKILLed');
  });

  it('restarts a boot command that exits non-zero (1 s backoff) and leaves one that exits 0 alone', async (t) => {
    const outDir = await mkdtemp(join(tmpdir(), 'synkti-local-out-'));
    // Run 1 exits 1, run 2 exits 0; a third run would mean exit 0 was restarted.
    const boot = [
      process.execPath,
      '-e',
      `
      const fs = require('fs');
      const file = require('path').join(process.env.OUT_DIR, 'runs');
      fs.appendFileSync(file, Date.now() + '\\n');
      const runs = fs.readFileSync(file, 'utf8').trim().split('\\n').length;
      process.exit(runs === 1 ? 1 : 0);
    `,
    ];
    const temp = await createTempLocalCloud({ bootCommand: boot, env: { OUT_DIR: outDir } });
    t.after(async () => {
      await temp.destroy();
      await rm(outDir, { recursive: true, force: true });
    });
    const record = await launchOne(temp.cloud);
    const runsFile = join(outDir, 'runs');
    const runs = () => (existsSync(runsFile) ? readFileSync(runsFile, 'utf8').trim().split('\n').map(Number) : []);
    await waitFor('the second run', () => runs().length >= 2 || undefined, 10_000);
    const [first, second] = runs();
    assert.ok(second! - first! >= 950, `restarted after ${second! - first!} ms, expected the 1 s backoff`);
    const log = () => readFileSync(temp.cloud.instances.consoleLogPath(record.id), 'utf8');
    assert.match(log(), /exited with code 1: restarting in 1000 ms/);
    await waitFor('the idle message', () => /exited with code 0: the instance stays up idle/.test(log()));
    // A wrong restart would come 2 s after the second run (the next backoff step).
    await new Promise((resolve) => setTimeout(resolve, 2300));
    assert.equal(runs().length, 2, 'exit 0 is not restarted');
    assert.equal((await recordOf(temp.cloud, record.id))?.state, 'running', 'the instance stays up');
  });

  it('launches from 4 processes at once all succeed, with distinct ids and ports', async (t) => {
    // A fresh directory: the 4 processes also race to create the registry.
    const stateDir = await mkdtemp(join(tmpdir(), 'synkti-local-race-'));
    t.after(async () => {
      await killAllLocalInstances(stateDir);
      await rm(stateDir, { recursive: true, force: true });
    });
    const children = await Promise.all(
      [0, 1, 2, 3].map((n) =>
        runNode([LAUNCH_FROM_CHILD, '--state-dir', stateDir, '--cluster', 'race', '--role', `r${n}`, '--count', '2', '--boot-stay-alive']),
      ),
    );
    for (const child of children) assert.equal(child.code, 0, child.stderr);
    const records = children.flatMap((c) => JSON.parse(c.stdout) as InstanceRecord[]);
    assert.equal(records.length, 8);
    assert.equal(new Set(records.map((r) => r.id)).size, 8, 'distinct ids');
    const ports = records.flatMap((r) => [TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD].map((k) => r.tags[k]));
    assert.ok(
      ports.every((p) => p !== undefined && Number(p) > 0),
      'every instance has its ports',
    );
    assert.equal(new Set(ports).size, 24, 'distinct ports');
    const cloud = createLocalCloud({ stateDir });
    t.after(() => cloud.close());
    const listed = await cloud.instances.list({ tags: { [TAG_CLUSTER]: 'race' } });
    assert.deepEqual(listed.items.map((r) => r.id).sort(), records.map((r) => r.id).sort());
  });

  it('one clientToken launched from 4 processes at once gives one instance', async (t) => {
    const temp = await createTempLocalCloud();
    t.after(() => temp.destroy());
    const children = await Promise.all(
      [0, 1, 2, 3].map(() =>
        runNode([
          LAUNCH_FROM_CHILD,
          '--state-dir',
          temp.stateDir,
          '--cluster',
          'test',
          '--role',
          'replacement',
          '--client-token',
          'replace-i-0123',
        ]),
      ),
    );
    for (const child of children) assert.equal(child.code, 0, child.stderr);
    const ids = new Set(children.flatMap((c) => (JSON.parse(c.stdout) as InstanceRecord[]).map((r) => r.id)));
    assert.equal(ids.size, 1);
    const listed = await temp.cloud.instances.list({ tags: { [TAG_ROLE]: 'replacement' } });
    assert.deepEqual(
      listed.items.map((r) => r.id),
      [...ids],
    );
  });

  it('boots with the saved command and env plus SYNKTI_IMDS_ENDPOINT and SYNKTI_LOCAL_STATE_DIR, and nothing else of the caller', async (t) => {
    const boot = [
      process.execPath,
      '-e',
      `
      const keys = ['APP_SETTING', 'SYNKTI_IMDS_ENDPOINT', 'SYNKTI_LOCAL_STATE_DIR', 'SYNKTI_TEST_CALLER_ONLY'];
      const seen = Object.fromEntries(keys.map((k) => [k, process.env[k] ?? null]));
      // Written aside, then renamed: the test reads the file as soon as its name appears.
      const file = require('path').join(process.env.OUT_DIR, 'env-' + process.pid + '.json');
      require('fs').writeFileSync(file + '.partial', JSON.stringify(seen));
      require('fs').renameSync(file + '.partial', file);
      setInterval(() => {}, 1e9);
    `,
    ];
    const { temp, outDir } = await cloudWithOutDir(t, { bootCommand: boot, env: { APP_SETTING: 'on' } });
    process.env.SYNKTI_TEST_CALLER_ONLY = 'must-not-leak';
    t.after(() => {
      delete process.env.SYNKTI_TEST_CALLER_ONLY;
    });
    // A second process-like handle with no boot options: it uses the saved ones (as an agent does).
    const later = createLocalCloud({ stateDir: temp.stateDir });
    t.after(() => later.close());
    const record = await later.instances.launch({
      tags: { [TAG_CLUSTER]: 'test', [TAG_ROLE]: 'w' },
      instanceType: 'local.small',
      lifecycle: 'on-demand',
      userData: 'hello',
    });
    const file = await waitFor('the boot command to write its env', () =>
      readdirSync(outDir).find((f) => f.startsWith('env-') && f.endsWith('.json')),
    );
    const env = JSON.parse(readFileSync(join(outDir, file), 'utf8')) as Record<string, string | null>;
    assert.equal(env.APP_SETTING, 'on');
    assert.equal(env.SYNKTI_LOCAL_STATE_DIR, temp.stateDir);
    assert.equal(env.SYNKTI_IMDS_ENDPOINT, later.metadataEndpointOf(record.id));
    assert.equal(env.SYNKTI_TEST_CALLER_ONLY, null);
    const metadata = createImdsClient({ endpoint: env.SYNKTI_IMDS_ENDPOINT! });
    assert.equal((await metadata.identity()).instanceId, record.id);
    assert.equal(await metadata.userData(), 'hello');
    assert.equal((await metadata.tags())[TAG_PORT_AGENT], record.tags[TAG_PORT_AGENT]);
  });

  it('a host pid that now belongs to another process counts as a crash, and the old host then stops', async (t) => {
    const temp = await createTempLocalCloud();
    t.after(() => temp.destroy());
    const record = await launchOne(temp.cloud);
    await waitState(temp.cloud, record.id, 'running');
    const pid = temp.cloud.instances.hostPid(record.id)!;
    const registry = LocalRegistry.open(temp.stateDir);
    const row = registry.getInstance(record.id)!;
    registry.recordHost(record.id, pid, row.hostStartTime! + 1);
    registry.close();
    const after = await recordOf(temp.cloud, record.id);
    assert.equal(after?.state, 'terminated');
    assert.equal(after?.stateReason, 'Server.InternalError');
    await waitFor('the host to see it is terminated and stop', () => processGroupMembers(pid).length === 0);
  });

  it('spreads launches over zones round-robin and honours an explicit zone and a zone order', async (t) => {
    const temp = await createTempLocalCloud();
    t.after(() => temp.destroy());
    const zones = [];
    for (let i = 0; i < 4; i += 1) zones.push((await launchOne(temp.cloud)).zone);
    assert.deepEqual(zones, ['local-a', 'local-b', 'local-c', 'local-a']);
    const pinned = await temp.cloud.instances.launch({
      tags: { [TAG_CLUSTER]: 'test', [TAG_ROLE]: 'w' },
      instanceType: 't',
      lifecycle: 'spot',
      zone: 'local-c',
    });
    assert.equal(pinned.zone, 'local-c');
    // A zone order (the agent's placement rule): its first zone that exists wins.
    const ordered = await temp.cloud.instances.launch({
      tags: { [TAG_CLUSTER]: 'test', [TAG_ROLE]: 'w' },
      instanceType: 't',
      lifecycle: 'spot',
      zoneOrder: ['us-east-1a', 'local-b', 'local-a'],
    });
    assert.equal(ordered.zone, 'local-b');
    assert.equal((await temp.cloud.instances.list({ ids: [ordered.id] })).items[0]?.zone, 'local-b', 'the zone is recorded');
    await assert.rejects(
      temp.cloud.instances.launch({
        tags: { [TAG_CLUSTER]: 'test', [TAG_ROLE]: 'w' },
        instanceType: 't',
        lifecycle: 'spot',
        zoneOrder: 'local-b' as unknown as string[],
      }),
      (e: unknown) => isSynktiError(e, 'E_LAUNCH_SPEC') && e.message.includes('zoneOrder'),
    );
    await assert.rejects(
      temp.cloud.instances.launch({
        tags: { [TAG_CLUSTER]: 'test', [TAG_ROLE]: 'w' },
        instanceType: 't',
        lifecycle: 'spot',
        zone: 'us-east-1a',
      }),
      (e: unknown) => isSynktiError(e, 'E_LAUNCH_SPEC') && e.message.includes('us-east-1a'),
    );
    const kept = await temp.cloud.instances.launch({
      tags: { [TAG_CLUSTER]: 'test', [TAG_ROLE]: 'w', [TAG_PORT_AGENT]: '7946' },
      instanceType: 't',
      lifecycle: 'spot',
    });
    assert.equal(kept.tags[TAG_PORT_AGENT], '7946', 'a port set in the launch spec is kept');
    assert.ok(kept.tags[TAG_PORT_ROUTER], 'the others are still allocated');
  });

  it('rejects bad pagination and closed use with clear errors', async (t) => {
    const temp = await createTempLocalCloud();
    t.after(() => temp.destroy());
    for (const maxResults of [0, 1001, 1.5]) {
      await assert.rejects(temp.cloud.instances.list({}, { maxResults }), (e: unknown) => isSynktiError(e, 'E_PAGE_REQUEST'));
    }
    await assert.rejects(temp.cloud.instances.list({}, { nextToken: 'not-a-token' }), (e: unknown) => isSynktiError(e, 'E_PAGE_REQUEST'));
    temp.cloud.close();
    temp.cloud.close();
    await assert.rejects(temp.cloud.instances.list({}), (e: unknown) => isSynktiError(e, 'E_CLOSED'));
  });
});
