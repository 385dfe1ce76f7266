/**
 * The pipelines REST API (Hono): submit, get, list and cancel jobs; job results (fetched
 * from the object store when kept there by reference); an OpenAPI description; Prometheus
 * `/metrics`. Every /v1 route and /metrics needs an API key (`Authorization: Bearer <key>`
 * or `X-API-Key`). Every input is validated (zod) and every refusal is a 4xx JSON error
 * `{ error: { code, message, issues? } }`; a body over the limit is a 413 before it is read.
 * An owner sees only its own jobs (an admin key sees all); per-owner limits on unfinished
 * jobs and reserved/best-effort streams give each owner a fair share.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import { isSynktiError } from '@synkti/core';
import type { ObjectStore } from '@synkti/cloud';
import type { Pipeline } from '../define-pipeline.ts';
import { readPipelineResult } from '../result-store.ts';
import { JOB_STATES, type PipelineJobRecord, type TaskDatabase } from '../types.ts';
import type { ApiKeyEntry, ApiKeyring } from './api-keys.ts';
import { pipelineOpenApi } from './openapi.ts';

export interface PipelineApiOptions {
  db: TaskDatabase;
  pipelines: Pipeline[];
  keys: ApiKeyring;
  /** Where big results are (to serve /result). */
  store?: { store: ObjectStore; bucket: string } | undefined;
  /**
   * Largest request body.
   * @default 1048576 (1 MiB)
   */
  maxBodyBytes?: number | undefined;
}

type Env = { Variables: { key: ApiKeyEntry } };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const submitSchema = z
  .object({
    pipeline: z.string().min(1).max(100),
    input: z.unknown().optional(),
    priority: z.number().int().min(-1000).max(1000).optional(),
  })
  .strict();

const listSchema = z
  .object({
    state: z.enum(JOB_STATES).optional(),
    pipeline: z.string().min(1).max(100).optional(),
    owner: z.string().min(1).max(100).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
    before: z.string().regex(UUID, 'before must be a job id').optional(),
  })
  .strict();

function errorBody(code: string, message: string, issues?: Array<{ path: string; message: string }>) {
  return { error: { code, message, ...(issues ? { issues } : {}) } };
}

function zodIssues(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
}

function jobView(job: PipelineJobRecord) {
  return {
    id: job.id,
    pipeline: job.pipeline,
    owner: job.owner,
    stream: job.stream,
    priority: job.priority,
    state: job.state,
    error: job.error,
    openTasks: job.openTasks,
    createdAt: new Date(job.createdAt).toISOString(),
    finishedAt: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
    hasResult: job.state === 'done',
    resultRef: job.resultRef,
  };
}

export function createPipelineApi(options: PipelineApiOptions): { app: Hono<Env>; registry: Registry } {
  const { db, keys } = options;
  const pipelines = new Map(options.pipelines.map((p) => [p.name, p]));
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const registry = new Registry();
  const requests = new Counter({
    name: 'synkti_api_requests_total',
    help: 'API requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'synkti_api_request_seconds',
    help: 'API request latency',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new Gauge({
    name: 'synkti_pipeline_tasks',
    help: 'Tasks by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const totals = await db.totals();
      this.reset();
      for (const [state, n] of Object.entries(totals.tasks)) this.set({ state }, n ?? 0);
    },
  });
  new Gauge({
    name: 'synkti_pipeline_jobs',
    help: 'Jobs by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const totals = await db.totals();
      this.reset();
      for (const [state, n] of Object.entries(totals.jobs)) this.set({ state }, n ?? 0);
    },
  });
  new Gauge({
    name: 'synkti_pipeline_events',
    help: 'Task events since the database was created (requeues, duplicates discarded, releases, retries, failures, completions)',
    labelNames: ['event'],
    registers: [registry],
    async collect() {
      const c = await db.counters();
      this.reset();
      for (const [event, n] of Object.entries(c)) this.set({ event }, n);
    },
  });

  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath || 'unmatched';
    requests.inc({ method: c.req.method, route, status: String(c.res.status) });
    latency.observe({ route }, (performance.now() - started) / 1000);
  });

  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      const status = error.status;
      return c.json(errorBody(status === 413 ? 'E_BODY_TOO_LARGE' : 'E_BAD_REQUEST', error.message || 'bad request'), status);
    }
    if (isSynktiError(error) && (error.code === 'E_TASK_INVALID' || error.code === 'E_PIPELINE_INVALID')) {
      return c.json(errorBody('E_INVALID', error.message), 400);
    }
    // Never echo internals; the message names what failed.
    process.stderr.write(`${new Date().toISOString()} api: ${c.req.method} ${c.req.path}: ${(error as Error)?.stack ?? String(error)}\n`);
    return c.json(errorBody('E_INTERNAL', 'the server could not complete the request (the task database may be unreachable); retry'), 503);
  });

  app.notFound((c) => c.json(errorBody('E_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`), 404));

  app.get('/health', (c) => c.json({ ok: true }));
  app.get('/openapi.json', (c) => c.json(pipelineOpenApi([...pipelines.keys()])));

  const auth = async (c: Context<Env>, next: () => Promise<void>): Promise<Response | void> => {
    const header = c.req.header('authorization');
    const presented = header?.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : c.req.header('x-api-key');
    const key = keys.lookup(presented);
    if (!key) {
      c.header('WWW-Authenticate', 'Bearer');
      return c.json(
        errorBody('E_UNAUTHORIZED', presented ? 'the API key is not valid' : 'an API key is required (Authorization: Bearer <key>)'),
        401,
      );
    }
    c.set('key', key);
    await next();
  };
  app.use('/v1/*', auth);
  app.use('/metrics', auth);

  app.get('/metrics', async (c) => {
    c.header('Content-Type', registry.contentType);
    return c.body(await registry.metrics());
  });

  app.post(
    '/v1/jobs',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => {
        // The rest of the body is not read: tell the client not to reuse this connection.
        c.header('Connection', 'close');
        return c.json(errorBody('E_BODY_TOO_LARGE', `the body is over ${maxBodyBytes} bytes`), 413);
      },
    }),
    async (c) => {
      const type = c.req.header('content-type') ?? '';
      if (!/^application\/json\b/i.test(type))
        return c.json(errorBody('E_UNSUPPORTED_MEDIA_TYPE', 'send the job as JSON (Content-Type: application/json)'), 415);
      let body: unknown;
      try {
        body = JSON.parse(await c.req.text());
      } catch (error) {
        if (error instanceof HTTPException) throw error;
        return c.json(errorBody('E_BAD_JSON', `the body is not valid JSON: ${(error as Error).message.slice(0, 200)}`), 400);
      }
      const parsed = submitSchema.safeParse(body);
      if (!parsed.success) return c.json(errorBody('E_INVALID', 'the job is not valid', zodIssues(parsed.error)), 400);
      const pipeline = pipelines.get(parsed.data.pipeline);
      if (!pipeline) {
        return c.json(
          errorBody('E_UNKNOWN_PIPELINE', `no pipeline "${parsed.data.pipeline}"; this API serves: ${[...pipelines.keys()].join(', ')}`),
          400,
        );
      }
      let jobTasks: ReturnType<Pipeline['jobTasks']>;
      try {
        jobTasks = pipeline.jobTasks(parsed.data.input ?? null);
      } catch (error) {
        return c.json(errorBody('E_INVALID_INPUT', `input: ${(error as Error)?.message ?? String(error)}`), 400);
      }
      const key = c.get('key');
      const active = await db.listJobs({ owner: key.owner, state: 'running', limit: Math.min(500, key.maxActiveJobs) });
      if (active.length >= key.maxActiveJobs) {
        c.header('Retry-After', '5');
        return c.json(
          errorBody(
            'E_TOO_MANY_JOBS',
            `owner ${key.owner} already has ${active.length} unfinished jobs (limit ${key.maxActiveJobs}); wait for some to finish`,
          ),
          429,
        );
      }
      const job = await db.createJob({
        pipeline: pipeline.name,
        owner: key.owner,
        stream: key.stream,
        priority: parsed.data.priority ?? 0,
        input: jobTasks.input,
        tasks: jobTasks.tasks,
      });
      c.header('Location', `/v1/jobs/${job.id}`);
      return c.json({ job: jobView(job) }, 201);
    },
  );

  app.get('/v1/jobs', async (c) => {
    const parsed = listSchema.safeParse(c.req.query());
    if (!parsed.success) return c.json(errorBody('E_INVALID', 'bad query', zodIssues(parsed.error)), 400);
    const key = c.get('key');
    const owner = key.admin ? parsed.data.owner : key.owner;
    const jobs = await db.listJobs({ ...parsed.data, owner });
    return c.json({ jobs: jobs.map(jobView), next: jobs.length === (parsed.data.limit ?? 50) ? (jobs.at(-1)?.id ?? null) : null });
  });

  const ownJob = async (c: Context<Env>): Promise<PipelineJobRecord | Response> => {
    const id = c.req.param('id') ?? '';
    if (!UUID.test(id)) return c.json(errorBody('E_INVALID', `job id "${id.slice(0, 100)}" is not a job id (a UUID)`), 400);
    const job = await db.getJob(id);
    const key = c.get('key');
    if (!job || (!key.admin && job.owner !== key.owner)) return c.json(errorBody('E_NOT_FOUND', `no job ${id}`), 404);
    return job;
  };

  app.get('/v1/jobs/:id', async (c) => {
    const job = await ownJob(c);
    if (job instanceof Response) return job;
    const counts = await db.stageCounts(job.id);
    const pipeline = pipelines.get(job.pipeline);
    const stages: Record<string, unknown> = {};
    for (const [type, byState] of Object.entries(counts)) stages[pipeline?.stageForType(type)?.name ?? type] = byState;
    return c.json({ job: { ...jobView(job), stages, result: job.resultRef ? undefined : job.result } });
  });

  app.get('/v1/jobs/:id/result', async (c) => {
    const job = await ownJob(c);
    if (job instanceof Response) return job;
    if (job.state !== 'done')
      return c.json(errorBody('E_NOT_DONE', `job ${job.id} is ${job.state}${job.error ? `: ${job.error}` : ''}`), 409);
    const result = job.resultRef ? await readPipelineResult(options.store, job.resultRef) : job.result;
    return c.json({ result });
  });

  const cancel = async (c: Context<Env>): Promise<Response> => {
    const job = await ownJob(c);
    if (job instanceof Response) return job;
    const cancelled = await db.cancelJob(job.id, `cancelled by ${c.get('key').owner}`);
    if (!cancelled) return c.json(errorBody('E_FINISHED', `job ${job.id} already ${job.state}`), 409);
    return c.json({ job: jobView((await db.getJob(job.id))!) });
  };
  app.post('/v1/jobs/:id/cancel', cancel);
  app.delete('/v1/jobs/:id', cancel);

  return { app, registry };
}
