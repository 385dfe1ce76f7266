/**
 * One emulated machine without moto: its user data runs with the machine's environment,
 * the systemctl shim runs a unit as systemd would (Environment=, paths moved into the
 * root, the emulated endpoints winning over the unit's, ExecStartPre, Restart=on-failure),
 * and stop() or the emulator's death ends every process, even one that left the group.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EmulatedMachine, writeMachineShims } from './emulated-machine.ts';
import type { EmulatedInstance } from './instance-metadata.ts';
import { machinePids } from './machine-processes.ts';

function instance(userData: string): EmulatedInstance {
  return {
    instanceId: 'i-0machine0test0001',
    instanceType: 't3.micro',
    imageId: 'ami-1',
    region: 'us-east-1',
    zone: 'us-east-1a',
    privateIp: '127.100.1.9',
    mac: '02:00:00:00:00:09',
    subnetId: 'subnet-1',
    vpcId: 'vpc-1',
    securityGroupIds: [],
    tags: {},
    tagsInMetadata: true,
    userData,
    lifecycle: 'spot',
    launchedAt: Date.now(),
    accountId: '123456789012',
  };
}

async function until(what: string, timeoutMs: number, probe: () => boolean, diagnostics: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms\n${diagnostics()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Exited: no such pid, or a zombie its new parent has not reaped yet. */
function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return true;
  }
}

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

// The unit's service fails once (exit 3), then records its environment and runs on; it
// also starts a process in a session of its own, which a process-group kill would miss.
const USER_DATA = `#!/bin/bash
set -euo pipefail
mkdir -p "$SYNKTI_ROOT/etc/systemd/system" "$SYNKTI_ROOT/opt/synkti/bin"
cat >"$SYNKTI_ROOT/opt/synkti/bin/service" <<'EOF'
#!/bin/bash
if [ ! -f "$STATE_DIRECTORY/failed-once" ]; then touch "$STATE_DIRECTORY/failed-once"; exit 3; fi
env | sort >"$RUNTIME_DIRECTORY/env"
setsid sleep 300 </dev/null >/dev/null 2>&1 &
exec sleep 300
EOF
chmod 755 "$SYNKTI_ROOT/opt/synkti/bin/service"
cat >"$SYNKTI_ROOT/etc/systemd/system/demo.service" <<'EOF'
[Service]
User=demo
Environment="CONFIG_FILE=/etc/synkti/cluster.json" "SYNKTI_IMDS_ENDPOINT=http://169.254.169.254"
Environment="PLAIN=value"
RuntimeDirectory=synkti
StateDirectory=synkti
ExecStartPre=/bin/bash -c "echo pre >>$RUNTIME_DIRECTORY/pre-ran"
ExecStart=/opt/synkti/bin/service
Restart=on-failure
RestartSec=0.2
EOF
useradd --system demo
systemctl daemon-reload
systemctl enable --now demo
echo "booted with IMDS $SYNKTI_IMDS_ENDPOINT"
`;

test('a machine runs its user data and a unit through the systemctl shim; stop() leaves no process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-machine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeMachineShims(join(dir, 'shims'));
  const machine = new EmulatedMachine({
    instance: instance(USER_DATA),
    dir: join(dir, 'i-1'),
    awsEndpoint: 'http://127.0.0.1:9',
    shimsDir: join(dir, 'shims'),
  });
  t.after(() => machine.stop());
  await machine.start();
  const envFile = join(machine.root, 'run', 'synkti', 'env');
  const logs = () => `${read(machine.bootLog)}\n${read(machine.serviceLog)}`;
  await until('the unit ran after one failure', 20_000, () => read(envFile).includes('PLAIN=value'), logs);
  assert.equal(machine.bootExitCode, 0, logs());
  assert.match(read(machine.bootLog), new RegExp(`booted with IMDS ${machine.imdsUrl.replace(/\./g, '\\.')}`));
  const env = Object.fromEntries(
    read(envFile)
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  assert.equal(env.CONFIG_FILE, join(machine.root, 'etc/synkti/cluster.json'), 'absolute Synkti paths moved into the root');
  assert.equal(env.SYNKTI_IMDS_ENDPOINT, machine.imdsUrl, "the machine's IMDS wins over the unit's 169.254.169.254");
  assert.equal(env.AWS_EC2_METADATA_SERVICE_ENDPOINT, machine.imdsUrl);
  assert.equal(env.AWS_ENDPOINT_URL, 'http://127.0.0.1:9');
  assert.equal(env.RUNTIME_DIRECTORY, join(machine.root, 'run/synkti'));
  assert.equal(env.AWS_ACCESS_KEY_ID, 'AKIAEMULATEDINSTANCE', 'no credentialsFor: static dummy keys');
  assert.equal(read(join(machine.root, 'run/synkti/pre-ran')), 'pre\npre\n', 'ExecStartPre ran before each start');
  assert.match(read(machine.serviceLog), /main process exited with 3\n.*restarting in 0\.2s/);
  assert.match(read(machine.serviceLog), /User=demo is not honoured/);

  // guard, runner, service (sleep) and the sleep in its own session, at least.
  await until('the escaped process is up', 5_000, () => machinePids(machine.token).length >= 4);
  const pids = machinePids(machine.token);
  await machine.stop();
  assert.deepEqual(machinePids(machine.token), []);
  for (const pid of pids) assert.ok(exited(pid), `pid ${pid} has exited`);
  await assert.rejects(fetch(`${machine.imdsUrl}/latest/api/token`, { method: 'PUT' }), 'the IMDS server is stopped');
});

test("the machine's processes die with the emulator, even when it is SIGKILLed", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-machine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const userData = '#!/bin/bash\nsetsid sleep 300 </dev/null >/dev/null 2>&1 &\nsleep 300 &\ntouch "$SYNKTI_ROOT/up"\nwait\n';
  const script = `import { EmulatedMachine, writeMachineShims } from ${JSON.stringify(new URL('./emulated-machine.ts', import.meta.url).pathname)};
import { existsSync } from 'node:fs';
writeMachineShims(${JSON.stringify(join(dir, 'shims'))});
const m = new EmulatedMachine({ instance: ${JSON.stringify(instance(userData))}, dir: ${JSON.stringify(join(dir, 'i-2'))}, awsEndpoint: 'http://127.0.0.1:9', shimsDir: ${JSON.stringify(join(dir, 'shims'))} });
await m.start();
while (!existsSync(m.root + '/up')) await new Promise((r) => setTimeout(r, 20));
console.log(m.token);
process.kill(process.pid, 'SIGKILL');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ended = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  t.after(() => {
    child.kill('SIGKILL');
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    ended,
    new Promise((resolve) => {
      timer = setTimeout(resolve, 60_000);
    }),
  ]);
  clearTimeout(timer);
  const token = stdout.trim();
  assert.match(token, /^[0-9a-f]{24}$/, stderr);
  // The guard reads EOF on its stdin and kills every marked process (bounded wait).
  await until(
    'the orphaned machine is gone',
    20_000,
    () => machinePids(token).length === 0,
    () => `left: ${machinePids(token).join(',')}`,
  );
});

// Two units: one leaves on SIGTERM (records it, then exits 0), one ignores SIGTERM and has
// TimeoutStopSec=1, so only the SIGKILL after its timeout ends it.
const SHUTDOWN_USER_DATA = `#!/bin/bash
set -euo pipefail
mkdir -p "$SYNKTI_ROOT/etc/systemd/system" "$SYNKTI_ROOT/opt/synkti/bin"
cat >"$SYNKTI_ROOT/opt/synkti/bin/polite" <<'SCRIPT'
#!/bin/bash
trap 'sleep 0.3; date +%s%N >"$STATE_DIRECTORY/polite-left"; exit 0' TERM
touch "$STATE_DIRECTORY/polite-up"
sleep 300 & wait $!
SCRIPT
cat >"$SYNKTI_ROOT/opt/synkti/bin/stubborn" <<'SCRIPT'
#!/bin/bash
trap '' TERM
touch "$STATE_DIRECTORY/stubborn-up"
while true; do sleep 0.2; done
SCRIPT
chmod 755 "$SYNKTI_ROOT/opt/synkti/bin/polite" "$SYNKTI_ROOT/opt/synkti/bin/stubborn"
printf '[Service]\\nStateDirectory=synkti\\nExecStart=/opt/synkti/bin/polite\\nTimeoutStopSec=20\\n' >"$SYNKTI_ROOT/etc/systemd/system/polite.service"
printf '[Service]\\nStateDirectory=synkti\\nExecStart=/opt/synkti/bin/stubborn\\nTimeoutStopSec=1\\n' >"$SYNKTI_ROOT/etc/systemd/system/stubborn.service"
systemctl enable --now polite
systemctl enable --now stubborn
`;

test('shutdown() is an OS shutdown: SIGTERM to each unit, its TimeoutStopSec, then SIGKILL; nothing is left', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-machine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeMachineShims(join(dir, 'shims'));
  const machine = new EmulatedMachine({
    instance: instance(SHUTDOWN_USER_DATA),
    dir: join(dir, 'i-3'),
    awsEndpoint: 'http://127.0.0.1:9',
    shimsDir: join(dir, 'shims'),
  });
  t.after(() => machine.stop());
  await machine.start();
  const state = join(machine.root, 'var/lib/synkti');
  const logs = () => `${read(machine.bootLog)}\n${read(machine.serviceLog)}`;
  await until('both units are up', 20_000, () => existsSync(join(state, 'polite-up')) && existsSync(join(state, 'stubborn-up')), logs);
  const pids = machine.pids();

  const sigtermAt = Date.now();
  const report = await machine.shutdown({ capMs: 10_000 });
  assert.deepEqual([...report.units].sort(), ['polite.service', 'stubborn.service']);
  assert.equal(report.graceMs, 10_000, 'the longest TimeoutStopSec (20 s), capped at 10 s');
  const leftAt = Number(read(join(state, 'polite-left')).trim()) / 1e6;
  assert.ok(leftAt >= sigtermAt, `the polite unit got SIGTERM and ran its handler to the end\n${logs()}`);
  assert.match(read(machine.serviceLog), /polite\.service: main process exited with 0/);
  // The stubborn one ignored SIGTERM: its runner SIGKILLed it after its own TimeoutStopSec (1 s), not at the cap.
  assert.ok(report.tookMs >= 900, `waited for the stubborn unit's TimeoutStopSec: ${report.tookMs} ms`);
  assert.ok(report.tookMs < report.graceMs, `ended by the unit's timeout, not the cap: ${report.tookMs} ms`);
  assert.equal(report.clean, true);
  assert.deepEqual(machinePids(machine.token), []);
  for (const pid of pids) assert.ok(exited(pid), `pid ${pid} has exited`);
  await assert.rejects(fetch(`${machine.imdsUrl}/latest/api/token`, { method: 'PUT' }), 'the IMDS server is stopped');
  assert.equal(await machine.shutdown(), report, 'idempotent');
});
