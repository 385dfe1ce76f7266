/**
 * The pipelines REST API (`synkti api`) over real HTTP on 127.0.0.1: the job lifecycle,
 * API keys and owners, per-owner limits, OpenAPI, /metrics, and a fuzz of generated bad
 * requests (malformed JSON, wrong types, huge bodies, bad keys, bad ids and queries) that
 * must each get a 4xx with a message — never a 5xx or a crash.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PipelineAgent, openPipelineStore } from '@synkti/tasks';
import { startPipelineApiServer, type RunningPipelineApi } from '@synkti/tasks/pipelines-api';
import { hashPipeline } from '../examples/pipeline-hash.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const GOOD_INPUT = { size: 20_000, seed: 'api', chunkBytes: 4096 };

interface Reply {
  status: number;
  body: string;
  json: unknown;
}

/** Raw HTTP, so bodies and headers can be anything. */
function send(
  api: RunningPipelineApi,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // Well-formed framing (a Content-Length), as any HTTP client sends.
    const headers = {
      ...options.headers,
      ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }),
    };
    const req = httpRequest({ host: '127.0.0.1', port: api.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

function errorMessage(reply: Reply): string {
  const e = (reply.json as { error?: { message?: unknown } } | undefined)?.error;
  return typeof e?.message === 'string' ? e.message : '';
}

/** xorshift32: the fuzz is the same on every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

describe('pipelines REST API', () => {
  let dir = '';
  let api: RunningPipelineApi;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synkti-pl-api-'));
    const keysFile = join(dir, 'keys.json');
    await writeFile(
      keysFile,
      JSON.stringify([
        { key: ALICE, owner: 'alice', maxActiveJobs: 3 },
        { key: BOB, owner: 'bob', stream: 'reserved' },
        { key: ADMIN, owner: 'ops', admin: true },
      ]),
    );
    api = await startPipelineApiServer({
      db: join(dir, 'tasks.db'),
      pipelines: [join(root, 'examples/pipeline-hash.ts')],
      apiKeys: keysFile,
      store: join(dir, 'store'),
      port: 0,
      maxBodyBytes: 64 * 1024,
    });
  });
  after(async () => {
    await api?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('submits, gets (per-stage counts), lists, serves the result of, and cancels jobs; owners see only their own', async (t) => {
    const created = await send(api, 'POST', '/v1/jobs', {
      headers: auth(ALICE),
      body: JSON.stringify({ pipeline: 'hash', input: GOOD_INPUT }),
    });
    assert.equal(created.status, 201, created.body);
    const job = (created.json as { job: { id: string; state: string; owner: string; stream: string } }).job;
    assert.deepEqual([job.state, job.owner, job.stream], ['running', 'alice', 'best-effort']);

    const got = await send(api, 'GET', `/v1/jobs/${job.id}`, { headers: auth(ALICE) });
    assert.equal(got.status, 200);
    assert.deepEqual((got.json as { job: { stages: unknown } }).job.stages, { split: { ready: 1 } });
    assert.equal((await send(api, 'GET', `/v1/jobs/${job.id}`, { headers: auth(BOB) })).status, 404, "bob cannot see alice's job");
    assert.equal((await send(api, 'GET', `/v1/jobs/${job.id}`, { headers: auth(ADMIN) })).status, 200, 'an admin can');
    const notDone = await send(api, 'GET', `/v1/jobs/${job.id}/result`, { headers: auth(ALICE) });
    assert.equal(notDone.status, 409);

    // Agents of the 3 pools (in this process) finish it; the API serves the verified result.
    const store = await openPipelineStore(join(dir, 'store'));
    const agents = ['exec', 'gpu', 'snark'].map(
      (pool) => new PipelineAgent({ db: api.db, pipelines: hashPipeline, pool, pollMs: 20, store, requeuer: false }),
    );
    t.after(async () => {
      for (const a of agents) await a.stop();
    });
    for (const a of agents) a.start();
    let state = 'running';
    for (let i = 0; i < 400 && state === 'running'; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      state = ((await send(api, 'GET', `/v1/jobs/${job.id}`, { headers: auth(ALICE) })).json as { job: { state: string } }).job.state;
    }
    assert.equal(state, 'done');
    const result = await send(api, 'GET', `/v1/jobs/${job.id}/result`, { headers: auth(ALICE) });
    assert.equal(result.status, 200);
    assert.equal((result.json as { result: { verified: boolean; chunks: number } }).result.verified, true);
    const finished = await send(api, 'GET', `/v1/jobs/${job.id}`, { headers: auth(ALICE) });
    assert.deepEqual((finished.json as { job: { stages: Record<string, unknown> } }).job.stages, {
      split: { done: 1 },
      hash: { done: 5 },
      merge: { done: 1 },
      verify: { done: 1 },
    });

    for (const a of agents) await a.stop();
    const second = await send(api, 'POST', '/v1/jobs', {
      headers: auth(BOB),
      body: JSON.stringify({ pipeline: 'hash', input: GOOD_INPUT, priority: 3 }),
    });
    assert.equal(second.status, 201);
    const bobJob = (second.json as { job: { id: string; stream: string } }).job;
    assert.equal(bobJob.stream, 'reserved');
    const listed = await send(api, 'GET', '/v1/jobs?limit=10', { headers: auth(BOB) });
    assert.deepEqual(
      (listed.json as { jobs: Array<{ id: string }> }).jobs.map((j) => j.id),
      [bobJob.id],
    );
    const all = await send(api, 'GET', '/v1/jobs?state=done', { headers: auth(ADMIN) });
    assert.deepEqual(
      (all.json as { jobs: Array<{ id: string }> }).jobs.map((j) => j.id),
      [job.id],
    );
    const cancelled = await send(api, 'POST', `/v1/jobs/${bobJob.id}/cancel`, { headers: auth(BOB) });
    assert.equal(cancelled.status, 200);
    assert.equal((cancelled.json as { job: { state: string } }).job.state, 'cancelled');
    const again = await send(api, 'DELETE', `/v1/jobs/${bobJob.id}`, { headers: auth(BOB) });
    assert.equal(again.status, 409);
    assert.match(errorMessage(again), /already cancelled/);
  });

  it("limits each owner's unfinished jobs (429 with Retry-After)", async () => {
    const codes: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      codes.push(
        (
          await send(api, 'POST', '/v1/jobs', {
            headers: auth(ALICE),
            body: JSON.stringify({ pipeline: 'hash', input: { ...GOOD_INPUT, seed: `l${i}` } }),
          })
        ).status,
      );
    }
    assert.deepEqual(codes, [201, 201, 201, 429]);
    const listed = await send(api, 'GET', '/v1/jobs?state=running', { headers: auth(ALICE) });
    for (const j of (listed.json as { jobs: Array<{ id: string }> }).jobs)
      await send(api, 'DELETE', `/v1/jobs/${j.id}`, { headers: auth(ALICE) });
    assert.equal(
      (await send(api, 'POST', '/v1/jobs', { headers: auth(ALICE), body: JSON.stringify({ pipeline: 'hash', input: GOOD_INPUT }) })).status,
      201,
    );
  });

  it('publishes OpenAPI without a key; /metrics needs one and reports jobs, tasks and requests', async () => {
    const spec = await send(api, 'GET', '/openapi.json');
    assert.equal(spec.status, 200);
    const doc = spec.json as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: { JobSubmission: { properties: { pipeline: { enum: string[] } } } } };
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/v1/jobs'] && doc.paths['/v1/jobs/{id}'] && doc.paths['/v1/jobs/{id}/result']);
    assert.deepEqual(doc.components.schemas.JobSubmission.properties.pipeline.enum, ['hash']);
    assert.equal((await send(api, 'GET', '/metrics')).status, 401);
    const metrics = await send(api, 'GET', '/metrics', { headers: { 'x-api-key': ADMIN } });
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /synkti_pipeline_jobs\{state="done"\} 1/);
    assert.match(metrics.body, /synkti_pipeline_tasks\{state="done"\} \d+/);
    assert.match(metrics.body, /synkti_api_requests_total\{method="POST",route="\/v1\/jobs",status="201"\}/);
    assert.match(metrics.body, /synkti_pipeline_events\{event="duplicates"\} 0/);
  });

  it('fuzz: 700 generated bad requests all get a 4xx with a message; the server keeps serving', async () => {
    const random = rng(20261123);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const junkValues: unknown[] = [
      null,
      true,
      false,
      0,
      -1,
      1.5,
      1e308,
      -1e308,
      '',
      'x',
      '🦄'.repeat(50),
      [],
      [1, 2],
      {},
      { a: { b: { c: [] } } },
      'hash',
      2 ** 53,
      '1',
    ];
    const randomString = (n: number): string =>
      Array.from({ length: n }, () => String.fromCharCode(Math.floor(random() * 0x2fff))).join('');
    const asciiString = (n: number): string =>
      Array.from({ length: n }, () => String.fromCharCode(33 + Math.floor(random() * 94))).join('');
    const valid = JSON.stringify({ pipeline: 'hash', input: GOOD_INPUT });
    const cases: Array<{ what: string; method: string; path: string; body?: string | Buffer; headers?: Record<string, string> }> = [];
    for (let i = 0; i < 120; i += 1) {
      // Malformed JSON: truncations and corruptions of a valid body, and random text.
      const cut = valid.slice(0, Math.floor(random() * (valid.length - 1)));
      const corrupt = valid
        .split('')
        .map((c) => (random() < 0.08 ? pick(['{', '}', '"', ',', ':', '\\', '\u0000', 'x']) : c))
        .join('');
      cases.push({ what: 'truncated JSON', method: 'POST', path: '/v1/jobs', headers: auth(ALICE), body: cut });
      if (corrupt !== valid) cases.push({ what: 'corrupted JSON', method: 'POST', path: '/v1/jobs', headers: auth(ALICE), body: corrupt });
      cases.push({
        what: 'random text',
        method: 'POST',
        path: '/v1/jobs',
        headers: auth(ALICE),
        body: randomString(1 + Math.floor(random() * 200)),
      });
    }
    for (let i = 0; i < 200; i += 1) {
      // Wrong types, unknown fields, bad pipelines, bad inputs.
      const body: Record<string, unknown> = { pipeline: 'hash', input: { ...GOOD_INPUT } };
      const mutation = Math.floor(random() * 6);
      if (mutation === 0) body.pipeline = pick(junkValues.filter((v) => v !== 'hash'));
      else if (mutation === 1) body.input = pick(junkValues);
      else if (mutation === 2) {
        const bad: Record<string, unknown[]> = {
          size: [0, -1, 1.5, '1', null, 10 ** 9, [], {}, true],
          seed: ['', 5, null, [], {}, 'x'.repeat(201)],
          chunkBytes: [0, 1023, 1.5, '4096', null, 2 ** 30, false],
          workMs: [-1, 1.5, 'slow', 10 ** 6, []],
        };
        const field = pick(Object.keys(bad));
        (body.input as Record<string, unknown>)[field] = pick(bad[field]!);
      } else if (mutation === 3) body[pick(['extra', 'owner', 'stream', '__proto__x'])] = pick(junkValues);
      else if (mutation === 4) body.priority = pick([1.5, 'high', 10_000, -10_000, null, [], {}]);
      else delete body[pick(['pipeline', 'input'])];
      const top = random() < 0.1 ? pick(junkValues) : body;
      const text = JSON.stringify(top);
      // `input` missing is a valid submission only when the pipeline accepts null: hash does not.
      cases.push({ what: `wrong types ${text.slice(0, 80)}`, method: 'POST', path: '/v1/jobs', headers: auth(ALICE), body: text });
    }
    for (let i = 0; i < 60; i += 1) {
      // Bad or missing keys, in every header shape.
      const key = pick([
        '',
        'x',
        ALICE.slice(0, -1),
        `${ALICE}x`,
        ALICE.toUpperCase(),
        asciiString(20),
        'a'.repeat(5000),
        `Bearer Bearer ${ALICE}`,
      ]);
      const headers = pick([
        { authorization: `Bearer ${key}` },
        { authorization: key },
        { 'x-api-key': key },
        { authorization: `Basic ${key}` },
        {},
      ]) as Record<string, string>;
      cases.push({
        what: `bad key (${key.length} chars)`,
        method: pick(['GET', 'POST', 'DELETE']),
        path: pick(['/v1/jobs', '/metrics', '/v1/jobs/00000000-0000-0000-0000-000000000000']),
        headers: { ...headers, 'content-type': 'application/json' },
        body: valid,
      });
    }
    for (let i = 0; i < 100; i += 1) {
      // Bad ids, paths, queries, methods and content types.
      const id = pick([
        encodeURIComponent(randomString(10)),
        '..%2F..%2Fetc',
        '00000000-0000-0000-0000-000000000000',
        '%00',
        'x'.repeat(300),
        '123',
      ]);
      const c = Math.floor(random() * 6);
      if (c === 0) cases.push({ what: `bad id ${id.slice(0, 40)}`, method: 'GET', path: `/v1/jobs/${id}`, headers: auth(ALICE) });
      else if (c === 1)
        cases.push({
          what: `bad cancel ${id.slice(0, 40)}`,
          method: pick(['POST', 'DELETE']),
          path: pick([`/v1/jobs/${id}/cancel`, `/v1/jobs/${id}`]),
          headers: auth(ALICE),
        });
      else if (c === 2)
        cases.push({
          what: 'bad query',
          method: 'GET',
          path: `/v1/jobs?${pick(['limit=0', 'limit=-1', 'limit=abc', 'limit=1e9', 'state=lost', 'before=nope', 'zzz=1', `pipeline=${'p'.repeat(300)}`, 'limit=1.5'])}`,
          headers: auth(ALICE),
        });
      else if (c === 3)
        cases.push({
          what: 'wrong content type',
          method: 'POST',
          path: '/v1/jobs',
          headers: {
            authorization: `Bearer ${ALICE}`,
            'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']),
          },
          body: valid,
        });
      else if (c === 4)
        cases.push({
          what: 'unknown route',
          method: pick(['GET', 'PUT', 'PATCH', 'POST']),
          path: pick(['/v2/jobs', '/v1/jobz', '/v1/jobs/x/y/z', '/']),
          headers: auth(ALICE),
        });
      else cases.push({ what: 'result of a missing job', method: 'GET', path: `/v1/jobs/${id}/result`, headers: auth(ALICE) });
    }
    // Huge bodies (over the 64 KiB limit of this server), JSON and not.
    for (const size of [64 * 1024 + 1, 200_000, 2_000_000]) {
      cases.push({
        what: `huge JSON ${size}`,
        method: 'POST',
        path: '/v1/jobs',
        headers: auth(ALICE),
        body: JSON.stringify({ pipeline: 'hash', input: { ...GOOD_INPUT, seed: 's'.repeat(size) } }),
      });
      cases.push({ what: `huge junk ${size}`, method: 'POST', path: '/v1/jobs', headers: auth(ALICE), body: Buffer.alloc(size, 0x7b) });
    }
    assert.ok(cases.length >= 700, `${cases.length} cases`);
    const statuses = new Map<number, number>();
    for (const c of cases) {
      const reply = await send(api, c.method, c.path, { body: c.body, headers: c.headers }).catch((error: unknown) => {
        throw new Error(`${c.what}: ${c.method} ${c.path.slice(0, 60)}: ${String(error)}`);
      });
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      assert.ok(
        reply.status >= 400 && reply.status < 500,
        `${c.what}: ${c.method} ${c.path.slice(0, 80)} -> ${reply.status} ${reply.body.slice(0, 300)}`,
      );
      assert.ok(
        errorMessage(reply).length > 0,
        `${c.what}: ${c.method} ${c.path.slice(0, 60)} ${JSON.stringify(c.headers ?? {}).slice(0, 100)} -> ${reply.status} without an error message: ${reply.body.slice(0, 200)}`,
      );
    }
    // Bytes that are not HTTP at all, and headers over Node's limit, get a JSON 4xx too.
    for (const raw of [
      'GARBAGE\r\n\r\n',
      `GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      'POST /v1/jobs HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
    ]) {
      const text = await new Promise<string>((resolve, reject) => {
        const socket = connect(api.port, '127.0.0.1', () => socket.end(raw));
        let out = '';
        socket.on('data', (d: Buffer) => {
          out += d.toString();
        });
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      });
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
      assert.ok(status >= 400 && status < 500, `raw ${JSON.stringify(raw.slice(0, 30))} -> ${text.slice(0, 100)}`);
      assert.match(text, /"message":"/);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    assert.equal((await send(api, 'GET', '/health')).status, 200, 'still serving');
    assert.equal((await send(api, 'POST', '/v1/jobs', { headers: auth(BOB), body: valid })).status, 201, 'still accepting good jobs');
    console.log(`# fuzz: ${cases.length} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  });
});
