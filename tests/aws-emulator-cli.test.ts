/**
 * The everyday commands with provider aws against the emulated AWS, each a real `synkti`
 * process, on one fleet: `bootstrap --skip-infra` (2 workers), `status --json`, `scale
 * worker 4`, `scale worker 2`, `doctor --json`, `down --json`. The worker role is the one
 * SpotServeFleet synthesizes, with ec2:DeleteTags removed: a node that leaves gracefully
 * (scaled in, or brought down: the emulator shuts its OS down, so its agent gets SIGTERM)
 * untags itself, and the run's IAM report shows that denial by action and principal while
 * every other call of the fleet is allowed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findMotoServer } from '@synkti/aws-emulator';
import {
  AGENT_PORT,
  startEmulatedAwsProject,
  type EmulatedAwsProject,
  type FleetNode,
} from '../packages/cli/src/demo/emulated-aws-project.ts';

const CLUSTER = 'synkti-aws-ops';
const WORKER_ROLE = `${CLUSTER}-worker`;

function missingTools(): string | undefined {
  if (!findMotoServer()) return 'moto_server is not on PATH (python3 -m pip install "moto[server]")';
  if (spawnSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8' }).status !== 0)
    return 'the aws CLI is not on PATH (python3 -m pip install awscli)';
  // The boot script refuses any Node.js but 20, and the tarball wraps this host's node.
  if (!process.versions.node.startsWith('20.')) return `workers install Node.js 20; this host runs ${process.versions.node}`;
  return undefined;
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  diagnostics: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms\n${diagnostics()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function agentReady(ip: string, secret: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${ip}:${AGENT_PORT}/ready`, {
      headers: { authorization: `Bearer ${secret}` },
      signal: AbortSignal.timeout(1500),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

const live = (nodes: FleetNode[]) => nodes.filter((n) => n.state === 'pending' || n.state === 'running');

/** The tail of each instance's boot and service log, for a failure message. */
function instanceLogs(project: EmulatedAwsProject, ids: string[]): string {
  return ids
    .flatMap((id) =>
      ['boot.log', 'service.log'].map((name) => {
        try {
          return `--- ${id}/${name}\n${readFileSync(join(project.stateDir, 'instances', id, name), 'utf8')
            .split('\n')
            .slice(-25)
            .join('\n')}`;
        } catch {
          return `--- ${id}/${name}: (none)`;
        }
      }),
    )
    .join('\n');
}

function json<T>(what: string, result: { code: number; stdout: string; stderr: string }): T {
  assert.equal(result.code, 0, `${what} exited with ${result.code}\n${result.stderr.slice(-3000)}\n${result.stdout.slice(-2000)}`);
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    return assert.fail(`${what} printed no JSON on stdout:\n${result.stdout.slice(0, 2000)}`);
  }
}

interface NodeJson {
  id: string;
  state: string;
  reachable: boolean;
  instanceState: string;
  members?: string[];
  model?: { state?: string; files?: number; filesDone?: number };
}

test(
  'synkti bootstrap, status, scale worker 4, scale worker 2, doctor and down on the emulated AWS; a removed permission is reported by name',
  { timeout: 420_000 },
  async (t) => {
    const missing = missingTools();
    if (missing) {
      if (process.env.SYNKTI_REQUIRE_SERVICES === '1') assert.fail(missing);
      return t.skip(`${missing} (set SYNKTI_REQUIRE_SERVICES=1 to make this a failure)`);
    }
    const started = Date.now();
    const phases: string[] = [];
    let mark = started;
    const phase = (name: string): void => {
      const now = Date.now();
      phases.push(`${name} ${((now - mark) / 1000).toFixed(1)} s`);
      mark = now;
    };
    const project = await startEmulatedAwsProject({ cluster: CLUSTER, workers: 2, denyActions: ['ec2:DeleteTags'] });
    t.after(() => project.stop());
    phase('setup');

    // bootstrap: every step reported, 2 workers launched.
    const boot = json<{ ok: boolean; steps: { step: string; status: string; changed: string[] }[] }>(
      'synkti bootstrap',
      await project.cli(project.bootstrapArgs(2)),
    );
    assert.equal(boot.ok, true);
    const step = (name: string) => boot.steps.find((s) => s.step === name);
    for (const name of ['secret', 'buckets', 'artifact', 'model', 'workers'])
      assert.equal(step(name)?.status, 'created', `bootstrap step ${name}: ${JSON.stringify(step(name))}`);
    const originals = step('workers')!.changed;
    assert.equal(originals.length, 2, 'bootstrap launched 2 workers');
    const secret = await project.secret();
    const withSecret = { SYNKTI_CLUSTER_SECRET: secret };

    const serving = (count: number, ids?: string[]) =>
      until(
        `${count} workers serving (router and agent ready)`,
        150_000,
        async () => {
          const nodes = live(await project.listFleet()).filter((n) => !ids || ids.includes(n.id));
          const ok = await Promise.all(nodes.map(async (n) => (await project.routerServing(n.ip)) && agentReady(n.ip, secret)));
          return ok.filter(Boolean).length >= count ? nodes : undefined;
        },
        () => instanceLogs(project, ids ?? originals),
      );
    await serving(2, originals);
    phase('boot');

    // status --json: both instances with their agent's state and the model's progress.
    const status = json<NodeJson[]>('synkti status --json', await project.cli(['status', '--json'], 60_000, withSecret));
    assert.deepEqual(status.map((n) => n.id).sort(), [...originals].sort());
    for (const node of status) {
      assert.equal(node.reachable, true, `${node.id}: its agent answered status`);
      assert.equal(node.state, 'ready', `${node.id}: agent state`);
      assert.equal(node.instanceState, 'running');
      assert.deepEqual([...(node.members ?? [])].sort(), [...originals].sort(), `${node.id} sees both members`);
      assert.equal(node.model?.state, 'ready', `${node.id}: model ${JSON.stringify(node.model)}`);
      assert.ok(node.model.files && node.model.filesDone === node.model.files, `${node.id}: every model file fetched and checked`);
    }

    // scale worker 4: EC2 lists 4 live; the 2 new ones boot from the same user data and serve.
    const up = json<{ from: number; to: number; launched: string[]; terminated: string[] }>(
      'synkti scale worker 4',
      await project.cli(['scale', 'worker', '4', '--json', ...project.launchArgs()], 60_000, withSecret),
    );
    assert.equal(up.from, 2);
    assert.equal(up.to, 4);
    assert.equal(up.launched.length, 2);
    assert.deepEqual(up.terminated, []);
    assert.deepEqual(
      live(await project.listFleet())
        .map((n) => n.id)
        .sort(),
      [...originals, ...up.launched].sort(),
      'EC2 lists the 2 originals and the 2 launched',
    );
    // Serving before the scale-in: a node that is still booting has no agent to leave gracefully.
    await serving(4);
    phase('scale 4');

    // scale worker 2: all 4 serve and are idle, so the newest go (scaleInOrder): the 2 just launched.
    const downTo2 = json<{ from: number; to: number; terminated: string[] }>(
      'synkti scale worker 2',
      await project.cli(['scale', 'worker', '2', '--json'], 60_000, withSecret),
    );
    assert.equal(downTo2.from, 4);
    assert.deepEqual([...downTo2.terminated].sort(), [...up.launched].sort(), 'idle and serving alike: the newest nodes are removed');
    assert.deepEqual(
      live(await project.listFleet())
        .map((n) => n.id)
        .sort(),
      [...originals].sort(),
      'EC2 lists the 2 originals live',
    );
    // Each removed instance's OS shuts down: its agent gets SIGTERM, drains, leaves, untags itself.
    await until(
      'the removed machines have shut down',
      60_000,
      async () => (project.instances.machines().length === 2 ? true : undefined),
      () =>
        `machines: ${project.instances
          .machines()
          .map((m) => m.id)
          .join(', ')}`,
    );
    phase('scale 2');

    // doctor: the aws findings pass against the emulated account.
    const doctor = json<{ exitCode: number; findings: { check: string; status: string; message: string; fix?: string }[] }>(
      'synkti doctor --json',
      await project.cli(['doctor', '--json'], 60_000),
    );
    const finding = (check: string) => doctor.findings.find((f) => f.check === check);
    for (const check of ['aws-region', 'aws-credentials', 'ec2-permissions', 'imds', 'tags', 'cluster-secret']) {
      assert.equal(finding(check)?.status, 'ok', `doctor ${check}: ${JSON.stringify(finding(check))}`);
    }
    assert.match(finding('ec2-permissions')!.message, /dry run/, 'the DescribeInstances dry run answered DryRunOperation');
    assert.match(finding('cluster-secret')!.message, /SecureString/);
    assert.match(finding('imds')!.message, /^2 instance\(s\)/, 'the 2 live workers were inspected');
    phase('doctor');

    // The nodes that left were not replaced: they announced it (a crash would have been).
    const afterScaleIn = await project.listFleet();
    assert.deepEqual(
      live(afterScaleIn)
        .map((n) => n.id)
        .sort(),
      [...originals].sort(),
      'still 2 live by the time doctor ran: no replacement for a node that left',
    );
    assert.deepEqual(
      afterScaleIn.filter((n) => n.replaces !== undefined),
      [],
    );

    // down: every instance terminated, every machine gone (each agent leaving gracefully).
    const down = json<{ terminated: string[]; remaining: string[] }>(
      'synkti down --json',
      await project.cli(['down', '--json', '--timeout', '60s'], 120_000),
    );
    assert.deepEqual([...down.terminated].sort(), [...originals].sort());
    assert.deepEqual(down.remaining, []);
    await until(
      'no live instance and no machine left',
      60_000,
      async () => (live(await project.listFleet()).length === 0 && project.instances.machines().length === 0 ? true : undefined),
      () =>
        `machines: ${project.instances
          .machines()
          .map((m) => m.id)
          .join(', ')}`,
    );
    phase('down');

    // The removed permission, by name: each node that left gracefully tried to untag itself
    // (ec2:DeleteTags) as the worker role, and that is the only thing IAM refused.
    const report = project.truth.report();
    const deleteTags = report.denials.filter((d) => d.action === 'ec2:DeleteTags');
    t.diagnostic(
      `IAM: ${report.awsCalls} calls by the worker role, ${report.iamDenied} denied: ${report.denials.map((d) => `${d.action} by ${d.principal}`).join('; ')}`,
    );
    assert.ok(report.awsCalls > 0, 'the workers made AWS calls with their role credentials');
    assert.equal(report.iamDenied, deleteTags.length, `every denial is ec2:DeleteTags: ${JSON.stringify(report.denials)}`);
    const untaggers = new Set(deleteTags.map((d) => d.principal));
    for (const id of [...up.launched, ...originals]) {
      assert.ok(
        untaggers.has(`arn:aws:sts::${project.moto.accountId}:assumed-role/${WORKER_ROLE}/${id}`),
        `${id} left gracefully and its ec2:DeleteTags was denied (denied: ${[...untaggers].join(', ')})`,
      );
    }
    phase('report');
    t.diagnostic(`phases: ${phases.join(', ')}; total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  },
);
