/**
 * A pipeline agent process on a spot instance: when instance metadata (IMDSv2, served
 * here by the local metadata server) announces an interruption, the agent hands its
 * running tasks back at once (no attempt used, no timeout waited) and exits 0; another
 * agent finishes the job.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IMDS_ENDPOINT_ENV, startMetadataServer, type InterruptionNotice } from '@synkti/cloud';
import { PipelineAgent, openPipelineStore, openSqliteTaskDatabase } from '@synkti/tasks';
import { hashPipeline } from '../examples/pipeline-hash.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('pipeline agent on a spot instance', () => {
  it('hands its tasks back at the interruption notice and exits 0; another agent finishes the job', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-pl-spot-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const state = { notice: null as InterruptionNotice | null };
    const imds = await startMetadataServer({
      source: {
        identity: async () => ({
          instanceId: 'i-spot',
          instanceType: 'g6e.xlarge',
          region: 'local',
          zone: 'local-a',
          privateIp: '127.0.0.1',
        }),
        tags: async () => ({}),
        userData: async () => undefined,
        interruptionNotice: async () => state.notice,
        rebalanceRecommendation: async () => null,
      },
    });
    t.after(() => imds.stop());
    const dbPath = join(dir, 'tasks.db');
    const storeDir = join(dir, 'store');
    const db = await openSqliteTaskDatabase({ path: dbPath });
    t.after(() => db.close());
    const store = await openPipelineStore(storeDir);

    // The spot agent (a real process) serves the gpu pool, with hash tasks that take a minute.
    const options = {
      pool: 'gpu',
      pipelines: [join(root, 'examples/pipeline-hash.ts')],
      db: dbPath,
      store: storeDir,
      agentId: 'gpu-spot',
      concurrency: 2,
      heartbeatMs: 300,
      pollMs: 50,
      noticePollMs: 200,
    };
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'packages/tasks/src/pipelines/agent-main.ts'), JSON.stringify(options)],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, [IMDS_ENDPOINT_ENV]: imds.url, HASH_PIPELINE_WORK_MS: '60000' },
      },
    );
    let log = '';
    child.stderr.on('data', (d: Buffer) => {
      log += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.after(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('"event":"ready"')) resolve();
      });
      void exited.then(() => reject(new Error(`agent exited early:\n${log}`)));
    });

    const exec = new PipelineAgent({ db, pipelines: hashPipeline, pool: 'exec', pollMs: 20, store, requeuer: false });
    t.after(() => exec.stop());
    exec.start();
    const job = await db.createJob({ pipeline: 'hash', ...hashPipeline.jobTasks({ size: 16_384, seed: 'spot', chunkBytes: 4096 }) });
    const running = async (): Promise<number> =>
      (await db.getTasks(job.id)).filter((x) => x.state === 'running' && x.owner === 'gpu-spot').length;
    for (let i = 0; i < 600 && (await running()) < 2; i += 1) await sleep(50);
    assert.equal(await running(), 2, 'the spot agent holds 2 hash tasks');

    const noticeAt = Date.now();
    state.notice = { action: 'terminate', time: noticeAt + 120_000 };
    const code = await exited;
    const exitMs = Date.now() - noticeAt;
    assert.equal(code, 0, log);
    const hashes = (await db.getTasks(job.id)).filter((x) => x.type === 'hash.hash');
    assert.equal(hashes.filter((x) => x.state === 'running').length, 0, 'nothing left running on the interrupted agent');
    assert.ok(
      hashes.every((x) => x.attempts === 0),
      'the hand-back used no attempt',
    );
    assert.equal((await db.counters()).releases, 2);
    assert.match(log, /spot interruption notice .*released 2 task\(s\), exiting/);
    t.diagnostic(`notice → tasks handed back and process exited: ${exitMs} ms (IMDS polled every 200 ms here; 5 s by default)`);

    const gpu = new PipelineAgent({ db, pipelines: hashPipeline, pool: 'gpu', concurrency: 4, pollMs: 20, store, requeuer: false });
    const snark = new PipelineAgent({ db, pipelines: hashPipeline, pool: 'snark', pollMs: 20, store, requeuer: false });
    t.after(async () => {
      await gpu.stop();
      await snark.stop();
    });
    gpu.start();
    snark.start();
    for (let i = 0; i < 600 && (await db.getJob(job.id))?.state === 'running'; i += 1) await sleep(50);
    assert.equal((await db.getJob(job.id))?.state, 'done');
  });
});
