/**
 * `synkti demo --scenario behind-lb` as a user runs it (the real CLI, a real HAProxy, a
 * local fleet of real processes), with an 8 s notice instead of 20 s to fit the CI budget:
 * every request enters through HAProxy, the busiest router's node is preempted and then
 * another; no request fails, no stream is cut, each preempted node is replaced once, and
 * nothing (HAProxy, nodes) is left running afterwards.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { down } from '../packages/cli/src/commands/down.ts';
import { demoSpec, leftoverInstances } from '../packages/cli/src/demo/demo.ts';
import type { BehindLbSummary } from '../packages/cli/src/demo/behind-lb.ts';
import { findHaproxy } from '../packages/cli/src/demo/haproxy.ts';
import { runCli } from './helpers/cli.ts';

const skip =
  findHaproxy() === undefined && process.env.SYNKTI_REQUIRE_SERVICES !== '1'
    ? 'haproxy is not installed (sudo apt-get install -y haproxy); set SYNKTI_REQUIRE_SERVICES=1 to make this a failure'
    : false;

const dir = mkdtempSync(join(tmpdir(), 'synkti-behind-lb-'));
after(async () => {
  // Only does something if the demo died before its own cleanup.
  await down(demoSpec(), join(dir, 'synkti.demo'), { force: true, timeoutMs: 20_000, quiet: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

test('demo --scenario rejects an unknown scenario and a too-short notice', async () => {
  const unknown = await runCli(['demo', '--scenario', 'nope'], { cwd: dir });
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /Allowed choices are default, behind-lb/);
  const short = await runCli(['demo', '--scenario', 'behind-lb', '--notice', '1s'], { cwd: dir });
  assert.equal(short.code, 2, short.stderr);
  assert.match(short.stderr, /--notice must be from 5s/);
});

test('behind a load balancer, two preemptions fail no request and cut no stream', { skip, timeout: 120_000 }, async (t) => {
  const run = await runCli(['demo', '--scenario', 'behind-lb', '--json', '--notice', '8s', '--concurrency', '6'], {
    cwd: dir,
    timeoutMs: 110_000,
  });
  t.diagnostic(`demo took ${run.ms} ms`);
  assert.equal(run.code, 0, run.stderr.slice(-3000));
  const summary = JSON.parse(run.stdout) as BehindLbSummary;
  t.diagnostic(JSON.stringify(summary));
  const context = `summary: ${run.stdout}`;

  assert.deepEqual(summary.problems, [], context);
  assert.equal(summary.failed, 0, context);
  assert.equal(summary.cutMidStream, 0, context);
  assert.ok(summary.requests >= 100, `steady traffic through the balancer: ${context}`);
  // Every request entered through HAProxy, and HAProxy answered no error of its own.
  assert.equal(summary.balancer.sessions, summary.requests, context);
  assert.equal(summary.balancer.responses2xx, summary.requests, context);
  assert.equal(summary.preemptions, 2, context);
  assert.equal(summary.replacements, 2, context);
  assert.equal(summary.fleetSizeStart, 3);
  assert.equal(summary.fleetSizeEnd, 3);
  const [first, second] = summary.preempted;
  assert.ok(first && second && first.id !== second.id, context);
  for (const p of summary.preempted) {
    assert.ok(p.sessionsPerSecond > 0, `the preempted router carried traffic: ${context}`);
    // Out of the rotation by its health check well before the node is reclaimed.
    assert.ok(p.outOfRotationAfterMs !== undefined && p.outOfRotationAfterMs < p.noticeMs, context);
    assert.ok(p.replacement !== undefined && p.replacementInRotationAfterMs !== undefined, context);
  }
  assert.ok(summary.p50Ms > 0 && summary.p99Ms >= summary.p50Ms);

  // Nothing left running: HAProxy's port is closed and no instance of the demo remains.
  assert.equal(await refused(summary.balancerUrl), true, 'haproxy stopped');
  assert.equal(await leftoverInstances(dir), 0);
});
