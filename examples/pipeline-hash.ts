/**
 * A pipeline doing real work across three agent pools:
 *
 *   split  (pool "exec")  generate the job's input (deterministic from its seed), cut it
 *                         into chunks kept in the object store, fan out one hash task per
 *                         chunk and a merge over all of them
 *   hash   (pool "gpu")   SHA-256 and gzip one chunk (the parallel, expensive stage)
 *   merge  (pool "exec")  fan-in: the chunk hashes in order and their root hash
 *   verify (pool "snark") recompute everything from the seed on its own, compare, and
 *                         produce the job's result (fails the job if anything differs)
 *
 * Run it locally with one command (in-process agents of the 3 pools, SQLite, a local object store):
 *
 *   node --import tsx examples/pipeline-hash.ts [jobs=5]
 *
 * Or as real processes: `synkti agent --pool exec|gpu|snark --pipeline examples/pipeline-hash.ts
 * --db tasks.db --store ./store` (one per pool, as many as you like) and `synkti api` to submit
 * jobs `{ "pipeline": "hash", "input": { "size": 800000, "seed": "s1", "chunkBytes": 100000 } }`.
 *
 * HASH_PIPELINE_TIMEOUT (e.g. "2s") shortens the stages' heartbeat timeout (tests use it so a
 * killed agent's tasks come back fast); HASH_PIPELINE_WORK_MS adds simulated work per chunk.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { LocalObjectStore, type ObjectStore } from '@synkti/cloud';
import {
  PermanentTaskError,
  PipelineAgent,
  definePipeline,
  openSqliteTaskDatabase,
  type Json,
  type PipelineTaskContext,
} from '@synkti/tasks';

export interface HashJobInput {
  /** Bytes of input to generate (1..64 MiB). */
  size: number;
  /** Seed of the deterministic input. */
  seed: string;
  /** Chunk size (1 KiB..16 MiB); size/chunkBytes hash tasks. */
  chunkBytes: number;
  /** Simulated extra work per chunk, in ms (0..60000). */
  workMs?: number | undefined;
}

export interface HashJobResult {
  root: string;
  sha256: string;
  chunks: number;
  size: number;
  gzipBytes: number;
  verified: true;
}

/** The input bytes: SHA-256 in counter mode over the seed (cheap, deterministic, incompressible). */
export function hashPipelineInput(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, block = 0; offset < size; offset += 32, block += 1) {
    createHash('sha256').update(`${seed}:${block}`).digest().copy(out, offset);
  }
  return out;
}

/** What a correct job result is, computed without the pipeline. */
export function expectedHashResult(input: HashJobInput): { root: string; sha256: string; chunks: number } {
  const data = hashPipelineInput(input.seed, input.size);
  const hashes: string[] = [];
  for (let offset = 0; offset < data.length; offset += input.chunkBytes) {
    hashes.push(
      createHash('sha256')
        .update(data.subarray(offset, offset + input.chunkBytes))
        .digest('hex'),
    );
  }
  return {
    root: createHash('sha256').update(hashes.join('\n')).digest('hex'),
    sha256: createHash('sha256').update(data).digest('hex'),
    chunks: hashes.length,
  };
}

function validateHashInput(raw: unknown): Json {
  const v = raw as Partial<HashJobInput> | null;
  const isInt = (x: unknown, min: number, max: number): boolean => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
  if (typeof v !== 'object' || v === null) throw new PermanentTaskError('input must be an object { size, seed, chunkBytes }');
  if (!isInt(v.size, 1, 64 * 1024 * 1024)) throw new PermanentTaskError('input.size must be a whole number of bytes from 1 to 67108864');
  if (typeof v.seed !== 'string' || v.seed.length < 1 || v.seed.length > 200)
    throw new PermanentTaskError('input.seed must be a string of 1..200 characters');
  if (!isInt(v.chunkBytes, 1024, 16 * 1024 * 1024))
    throw new PermanentTaskError('input.chunkBytes must be a whole number from 1024 to 16777216');
  if (Math.ceil(v.size! / v.chunkBytes!) > 10_000)
    throw new PermanentTaskError('input.size / input.chunkBytes must be at most 10000 chunks');
  if (v.workMs !== undefined && !isInt(v.workMs, 0, 60_000)) throw new PermanentTaskError('input.workMs must be 0..60000');
  return { size: v.size!, seed: v.seed, chunkBytes: v.chunkBytes!, workMs: v.workMs ?? 0 };
}

function requireStore(ctx: PipelineTaskContext): { store: ObjectStore; bucket: string } {
  if (!ctx.store) throw new PermanentTaskError('the hash pipeline needs an object store (start the agent with --store)');
  return ctx.store;
}

function work(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });
}

const timeout = process.env.HASH_PIPELINE_TIMEOUT ?? '30s';
const extraWorkMs = Number(process.env.HASH_PIPELINE_WORK_MS ?? 0) || 0;

export const hashPipeline = definePipeline({
  name: 'hash',
  validateInput: validateHashInput,
  start: (input) => [{ key: 'split', stage: 'split', input }],
  stages: {
    split: {
      pool: 'exec',
      timeout,
      handler: async (ctx) => {
        const input = ctx.input as unknown as HashJobInput;
        const { store, bucket } = requireStore(ctx);
        const data = hashPipelineInput(input.seed, input.size);
        const keys: string[] = [];
        for (let offset = 0, i = 0; offset < data.length; offset += input.chunkBytes, i += 1) {
          const key = `pipeline-data/${ctx.task.jobId}/chunk-${i}`;
          // Atomic puts: a retried split rewrites the same chunks with the same bytes.
          await store.put(bucket, key, data.subarray(offset, offset + input.chunkBytes));
          keys.push(key);
          ctx.progress(offset / data.length);
        }
        ctx.spawn(keys.map((ref, index) => ({ key: `hash-${index}`, stage: 'hash', input: { ref, index, workMs: input.workMs ?? 0 } })));
        ctx.spawn({ key: 'merge', stage: 'merge', deps: keys.map((_, index) => `hash-${index}`) });
        ctx.spawn({ key: 'verify', stage: 'verify', deps: ['merge'], input: input as unknown as Json });
        return { chunks: keys.length };
      },
    },
    hash: {
      pool: 'gpu',
      timeout,
      handler: async (ctx) => {
        const { ref, index, workMs } = ctx.input as { ref: string; index: number; workMs: number };
        const { store, bucket } = requireStore(ctx);
        const chunk = await store.get(bucket, ref);
        if (!chunk) throw new Error(`chunk ${ref} is missing`);
        await work(workMs + extraWorkMs, ctx.signal);
        return { index, sha256: createHash('sha256').update(chunk).digest('hex'), gzipBytes: gzipSync(chunk).length };
      },
    },
    merge: {
      pool: 'exec',
      timeout,
      handler: async (ctx) => {
        const deps = await ctx.deps();
        const parts = Object.values(deps)
          .map((d) => d as { index: number; sha256: string; gzipBytes: number })
          .sort((a, b) => a.index - b.index);
        const hashes = parts.map((p) => p.sha256);
        return {
          root: createHash('sha256').update(hashes.join('\n')).digest('hex'),
          chunks: parts.length,
          hashes,
          gzipBytes: parts.reduce((n, p) => n + p.gzipBytes, 0),
        };
      },
    },
    verify: {
      pool: 'snark',
      timeout,
      handler: async (ctx) => {
        const input = ctx.input as unknown as HashJobInput;
        const merged = (await ctx.deps()).merge as { root: string; chunks: number; gzipBytes: number };
        const expected = expectedHashResult(input);
        if (merged.root !== expected.root || merged.chunks !== expected.chunks) {
          throw new PermanentTaskError(
            `verification failed: merged root ${merged.root} (${merged.chunks} chunks) != recomputed ${expected.root} (${expected.chunks})`,
          );
        }
        const result: HashJobResult = {
          root: merged.root,
          sha256: expected.sha256,
          chunks: merged.chunks,
          size: input.size,
          gzipBytes: merged.gzipBytes,
          verified: true,
        };
        return result as unknown as Json;
      },
    },
  },
});

/** Runs the pipeline end to end in this process: `node --import tsx examples/pipeline-hash.ts [jobs]`. */
export async function runHashExample(jobs = 5): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'synkti-pipeline-hash-'));
  const store = new LocalObjectStore({ root: join(dir, 'store') });
  await store.createBucket('pipelines');
  const db = await openSqliteTaskDatabase({ path: join(dir, 'tasks.db') });
  const agents = [
    ...[1, 2].map(
      () => new PipelineAgent({ db, pipelines: hashPipeline, pool: 'exec', pollMs: 50, store: { store, bucket: 'pipelines' } }),
    ),
    ...[1, 2, 3].map(
      () =>
        new PipelineAgent({ db, pipelines: hashPipeline, pool: 'gpu', concurrency: 2, pollMs: 50, store: { store, bucket: 'pipelines' } }),
    ),
    new PipelineAgent({ db, pipelines: hashPipeline, pool: 'snark', pollMs: 50, store: { store, bucket: 'pipelines' } }),
  ];
  const started = Date.now();
  try {
    for (const agent of agents) agent.start();
    const inputs: HashJobInput[] = Array.from({ length: jobs }, (_, i) => ({
      size: 1_000_000 + i * 10_000,
      seed: `example-${i}`,
      chunkBytes: 100_000,
    }));
    const ids: string[] = [];
    for (const input of inputs) {
      const { input: validated, tasks } = hashPipeline.jobTasks(input);
      ids.push((await db.createJob({ pipeline: hashPipeline.name, input: validated, tasks })).id);
    }
    console.log(
      `submitted ${jobs} jobs (about 1 MB each in 100 kB chunks: split + 10-11 hash + merge + verify tasks per job) to pools exec×2, gpu×3, snark×1`,
    );
    let ok = 0;
    for (const [i, id] of ids.entries()) {
      for (;;) {
        const job = await db.getJob(id);
        if (job && job.state !== 'running') {
          const result = job.result as unknown as HashJobResult | null;
          const expected = expectedHashResult(inputs[i]!);
          const good = job.state === 'done' && result?.root === expected.root && result.sha256 === expected.sha256;
          if (good) ok += 1;
          console.log(
            `job ${id}: ${job.state}${good ? `, root ${result!.root.slice(0, 16)}…, ${result!.chunks} chunks, gzip ${result!.gzipBytes} B, verified` : ` ${job.error ?? ''}`}`,
          );
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const counters = await db.counters();
    console.log(
      `${ok}/${jobs} jobs verified in ${Date.now() - started} ms; ${counters.completions} tasks completed, ${counters.duplicates} duplicates discarded, ${counters.requeues} requeued`,
    );
    if (ok !== jobs) process.exitCode = 1;
  } finally {
    for (const agent of agents) await agent.stop();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runHashExample(Number(process.argv[2] ?? 5) || 5);
}
