/**
 * Issue 24, on real processes: clients connected straight to the preempted node's router
 * (no balancer, not through the other routers), with the official `openai` SDK and no
 * retries. The draining router lets go of them cleanly: no stream is cut mid-way; requests
 * keep being served (by the other nodes) until its cut-off; after that, requests fail with
 * a connection error before any byte, which is what a client without a balancer must
 * expect from a node that is going away. Exactly one replacement; the fleet is back at 3.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import OpenAI from 'openai';
import { TAG_CLUSTER, TAG_REPLACES, validateCluster } from '@synkti/core';
import { createLocalCloud, listAllInstances } from '@synkti/cloud';
import { STAND_IN_MAIN } from '../packages/cli/src/demo/demo.ts';
import { FleetObserver } from '../packages/cli/src/fleet-observer.ts';
import { collectNodeReports } from '../packages/cli/src/agent-status.ts';
import { openLocalFleet } from '../packages/cli/src/local-fleet.ts';
import { makeProject, runCli, uniqueName, waitFor } from './helpers/cli.ts';

const CONCURRENCY = 8;
const MAX_TOKENS = 20;
const NOTICE_MS = 10_000;

const name = uniqueName('e2e-drain');
const config = {
  name,
  pools: { worker: { count: 3 } },
  workload: {
    command: [process.execPath, '--import', import.meta.resolve('tsx'), STAND_IN_MAIN, '--port', '{port}', '--token-latency', '20ms'],
    healthPath: '/health',
    startupTimeout: '30s',
  },
  // A 10 s notice: drain budget ~8.5 s, cut-off ~3 s (maxStreamDuration) before its end.
  timeouts: {
    gossipInterval: '500ms',
    failureTimeout: '2s',
    listInterval: '5s',
    noticePollInterval: '500ms',
    drainMargin: '1s',
    shutdownGrace: '10s',
    maxStreamDuration: '3s',
  },
};
const project = makeProject(config);
const configFile = join(project.dir, 'synkti.config.ts');
after(async () => {
  await runCli(['down', '--force', '--timeout', '20s'], { cwd: project.dir }).catch(() => undefined);
  project.cleanup();
});

interface Outcome {
  startedAt: number;
  endedAt: number;
  /** When the first chunk arrived: undefined if no byte of a stream ever did. */
  firstChunkAt: number | undefined;
  chunks: number;
  finishReason: string | null | undefined;
  servedBy: string | undefined;
  error: string | undefined;
  connectionError: boolean;
}

/** The codes and messages along an error's cause chain, for the report. */
function describe(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const e = current as { name?: string; message?: string; code?: string; cause?: unknown };
    parts.push([e.name, e.code, e.message].filter(Boolean).join(' '));
    current = e.cause;
  }
  return parts.join(' <- ');
}

/** One chat-completion stream through the SDK, recorded from the client's side. */
async function streamOnce(client: OpenAI): Promise<Outcome> {
  const outcome: Outcome = {
    startedAt: Date.now(),
    endedAt: 0,
    firstChunkAt: undefined,
    chunks: 0,
    finishReason: undefined,
    servedBy: undefined,
    error: undefined,
    connectionError: false,
  };
  try {
    const { data: stream, response } = await client.chat.completions
      .create({
        model: 'synkti-stand-in',
        messages: [{ role: 'user', content: 'Tell me about spot instances.' }],
        max_tokens: MAX_TOKENS,
        stream: true,
      })
      .withResponse();
    outcome.servedBy = response.headers.get('x-synkti-peer') ?? undefined;
    for await (const chunk of stream) {
      outcome.firstChunkAt ??= Date.now();
      const choice = chunk.choices[0];
      if (typeof choice?.delta?.content === 'string') outcome.chunks++;
      if (choice?.finish_reason) outcome.finishReason = choice.finish_reason;
    }
  } catch (error) {
    outcome.error = describe(error);
    // A timeout is a hang, not a refusal (the SDK's timeout error extends the connection error).
    outcome.connectionError = error instanceof OpenAI.APIConnectionError && !(error instanceof OpenAI.APIConnectionTimeoutError);
  }
  outcome.endedAt = Date.now();
  return outcome;
}

/** Whether the router accepts a connection now (health answers, 200 or 503), probed with a fresh connection. */
function probeAccepts(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/_synkti/router/health`, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(true));
      res.on('error', () => resolve(true));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

test(
  "clients straight on a preempted node's router: no stream cut, only pre-byte connection errors after it closed",
  { timeout: 150_000 },
  async (t) => {
    const upResult = await runCli(['up', '--json', '--timeout', '40s'], { cwd: project.dir });
    assert.equal(upResult.code, 0, upResult.stderr);

    const spec = validateCluster(config);
    const fleet = openLocalFleet(spec, configFile);
    t.after(() => fleet.close());
    const observer = new FleetObserver(fleet);
    await observer.start(200);
    t.after(() => observer.stop());
    await waitFor('3 ready routers', async () => (observer.routerUrls().length === 3 ? true : undefined), 20_000);

    const cloud = createLocalCloud({ stateDir: fleet.stateDir });
    t.after(() => cloud.close());
    const [victim] = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
    assert.ok(victim);
    const [report] = await collectNodeReports(fleet, [victim]);
    assert.ok(report?.status, 'the victim answers its status');
    const routerUrl = `http://${report.status.address}:${report.status.ports.router}`;

    // 8 concurrent streaming completions in a loop, straight at the victim's router, no retries.
    const client = new OpenAI({ baseURL: `${routerUrl}/v1`, apiKey: 'synkti-test', maxRetries: 0, timeout: 20_000 });
    const outcomes: Outcome[] = [];
    let running = true;
    const loadEndsAt = Date.now() + 60_000; // bound: the victim is gone long before
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (running && Date.now() < loadEndsAt) {
        const outcome = await streamOnce(client);
        outcomes.push(outcome);
        // Refused before any byte: the router is gone for this client (it has nowhere else to go).
        if (outcome.error !== undefined && outcome.firstChunkAt === undefined) return;
      }
    });
    t.after(async () => {
      running = false;
      await Promise.all(workers);
    });

    // When the victim's router last took a connection: every probe is sent on a fresh one.
    let lastAcceptedProbeAt = 0;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const sentAt = Date.now();
        if (await probeAccepts(routerUrl)) lastAcceptedProbeAt = sentAt;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    t.after(async () => {
      probing = false;
      await prober;
    });

    await waitFor(
      "steady traffic through the victim's router",
      async () => (outcomes.filter((o) => o.error === undefined).length >= 2 * CONCURRENCY ? true : undefined),
      20_000,
    );
    const noticeAt = Date.now();
    await cloud.instances.preempt(victim.id, { noticeInMs: NOTICE_MS });

    const replacement = await waitFor(
      'a replacement for the preempted node',
      async () => {
        const found = await listAllInstances(cloud.instances, { tags: { [TAG_REPLACES]: victim.id } });
        return found[0];
      },
      10_000,
    );
    // Every client ends on its own: once the router is closed its next request is refused.
    await waitFor(
      'every client refused by the closed router',
      async () => {
        const finished = await Promise.race([
          Promise.all(workers).then(() => true),
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 200)),
        ]);
        return finished;
      },
      NOTICE_MS + 10_000,
    );
    running = false;
    await waitFor(
      'the preempted node to be reclaimed',
      async () => {
        const [r] = await listAllInstances(cloud.instances, {
          ids: [victim.id],
          states: ['pending', 'running', 'shutting-down', 'terminated'],
        });
        return r?.state === 'terminated' ? true : undefined;
      },
      20_000,
    );
    await waitFor('the fleet back at 3 ready nodes', async () => (observer.readyCount() === 3 ? true : undefined), 30_000);
    probing = false;
    await prober;

    // The victim's own account of its drain (its log outlives it).
    const logs = await runCli(['logs', victim.id, '--lines', '400'], { cwd: project.dir });
    const drainLine = logs.stdout.split('\n').find((line) => line.includes('"drain finished"'));
    assert.ok(drainLine, `the victim logged its drain report\n${logs.stdout.slice(-2000)}\n${logs.stderr}`);
    const drain = JSON.parse(drainLine) as {
      startedAt: number;
      cutoffAt: number;
      budgetMs: number;
      leftInFlight: number;
      tookMs: number;
      replacement?: string;
    };

    const afterNotice = outcomes.filter((o) => o.endedAt >= noticeAt);
    const completed = outcomes.filter((o) => o.error === undefined);
    const cut = outcomes.filter(
      (o) => o.firstChunkAt !== undefined && (o.error !== undefined || o.chunks !== MAX_TOKENS || o.finishReason !== 'length'),
    );
    const preByte = outcomes.filter((o) => o.firstChunkAt === undefined && o.error !== undefined);
    const servedByVictimDuringDrain = outcomes.filter((o) => o.startedAt > drain.startedAt + 100 && o.servedBy === victim.id);
    t.diagnostic(
      `requests: ${outcomes.length} (${afterNotice.length} ended after the notice), completed ${completed.length}, cut mid-stream ${cut.length}, failed before any byte ${preByte.length}`,
    );
    t.diagnostic(
      `drain: budget ${drain.budgetMs} ms, cut-off ${drain.cutoffAt - drain.startedAt} ms after it began, took ${drain.tookMs} ms, left in flight ${drain.leftInFlight}; notice seen ${drain.startedAt - noticeAt} ms after it was raised`,
    );
    t.diagnostic(
      `router last took a connection ${lastAcceptedProbeAt - noticeAt} ms after the notice; first refusal ${preByte.length ? Math.min(...preByte.map((o) => o.endedAt)) - noticeAt : '-'} ms; errors: ${[...new Set(preByte.map((o) => o.error))].join(' | ')}`,
    );

    assert.equal(cut.length, 0, `streams cut mid-way: ${JSON.stringify(cut.slice(0, 3))}`);
    assert.equal(drain.leftInFlight, 0, 'the drain cut nothing');
    assert.ok(completed.length > 2 * CONCURRENCY, 'traffic was served');
    assert.ok(
      afterNotice.some((o) => o.error === undefined && o.startedAt > drain.startedAt),
      'requests arriving during the drain were served, not refused',
    );
    assert.deepEqual(
      servedByVictimDuringDrain.map((o) => o.servedBy),
      [],
      "after the drain began, nothing went to the draining node's own workload",
    );
    // Refusals: each a connection error (not an HTTP error, not a hang), and only once the router closed.
    assert.ok(preByte.length >= 1 && preByte.length <= CONCURRENCY, `${preByte.length} pre-byte failures: each client stops at its first`);
    for (const o of preByte) {
      assert.ok(o.connectionError, `a pre-byte failure that is not a connection error: ${o.error}`);
      assert.ok(o.endedAt - o.startedAt < 5000, `a refusal took ${o.endedAt - o.startedAt} ms (a hang)`);
      assert.ok(
        o.endedAt >= lastAcceptedProbeAt,
        `failed ${lastAcceptedProbeAt - o.endedAt} ms before the router stopped taking connections: ${o.error}`,
      );
    }
    // The router closes at its cut-off (here it is never idle before it: 8 clients keep it busy).
    for (const o of preByte)
      assert.ok(o.endedAt >= drain.cutoffAt, `refused ${drain.cutoffAt - o.endedAt} ms before the cut-off: ${o.error}`);

    assert.equal(drain.replacement, replacement.id);
    const replacements = await listAllInstances(cloud.instances, {
      tags: { [TAG_REPLACES]: victim.id },
      states: ['pending', 'running', 'shutting-down', 'terminated'],
    });
    assert.equal(replacements.length, 1, 'exactly one replacement');
    assert.equal((await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } })).length, 3, 'fleet back to its size');
  },
);
