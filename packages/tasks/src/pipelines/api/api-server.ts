/**
 * The pipelines API server (`synkti api`): serves the API app on 127.0.0.1 by default (give
 * `host` to expose it, behind TLS), and runs a requeuer like every node (on by default).
 */
import { serve, type ServerType } from '@hono/node-server';
import { SynktiError } from '@synkti/core';
import { openTaskDatabase } from '../open-task-database.ts';
import { loadPipelineModules } from '../pipeline-modules.ts';
import { PipelineQueueMetrics, openQueueMetricsSink, type QueueMetricsSink } from '../pipeline-queue-metrics.ts';
import { PipelineRequeuer } from '../pipeline-requeuer.ts';
import { openPipelineStore } from '../pipeline-store.ts';
import type { TaskDatabase } from '../types.ts';
import { createPipelineApi } from './api-app.ts';
import { ApiKeyring, loadApiKeys } from './api-keys.ts';

export interface PipelineApiServerOptions {
  db: string;
  pipelines: string[];
  /** JSON file of API keys; default: SYNKTI_API_KEYS. */
  apiKeys?: string | undefined;
  store?: string | undefined;
  bucket?: string | undefined;
  /** @default "127.0.0.1" */
  host?: string | undefined;
  /** @default 8790 (0: any free port) */
  port?: number | undefined;
  /** @default 1048576 */
  maxBodyBytes?: number | undefined;
  /** @default true */
  requeuer?: boolean | undefined;
  /** Publish queue depth to CloudWatch with this Cluster dimension (while this node holds the requeuer lease). */
  metricsCluster?: string | undefined;
  /** @default 60000 */
  metricsIntervalMs?: number | undefined;
  /** The queue-depth sink for `metricsCluster` (the CLI's CloudWatch client). Required when `metricsCluster` is set. */
  openMetricsSink?: ((cluster: string) => Promise<QueueMetricsSink>) | undefined;
}

export interface RunningPipelineApi {
  url: string;
  port: number;
  db: TaskDatabase;
  stop(): Promise<void>;
}

export async function startPipelineApiServer(options: PipelineApiServerOptions): Promise<RunningPipelineApi> {
  const keys = new ApiKeyring(loadApiKeys({ file: options.apiKeys }));
  const pipelines = await loadPipelineModules(options.pipelines);
  const db = await openTaskDatabase(options.db, { poolSize: 8 });
  const store = await openPipelineStore(options.store, options.bucket);
  const { app } = createPipelineApi({ db, pipelines, keys, store, maxBodyBytes: options.maxBodyBytes });
  const requeuer =
    options.requeuer === false ? undefined : new PipelineRequeuer({ db, nodeId: `api-${process.pid}-${Date.now().toString(36)}` });
  // The API node may hold the requeuer lease: then it is the one that publishes queue depth.
  const queueMetrics =
    options.metricsCluster && requeuer
      ? new PipelineQueueMetrics({
          db,
          pipelines,
          requeuer,
          sink: await openQueueMetricsSink(options.metricsCluster, options.openMetricsSink),
          intervalMs: options.metricsIntervalMs,
          onError: (e) => process.stderr.write(`${new Date().toISOString()} api: queue metrics: ${String((e as Error)?.message ?? e)}\n`),
        })
      : undefined;
  const host = options.host ?? '127.0.0.1';
  let server: ServerType;
  const port = await new Promise<number>((resolve, reject) => {
    server = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 8790 }, (info) => resolve(info.port));
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new SynktiError('E_API_LISTEN', `cannot listen on ${host}:${options.port ?? 8790}: ${error.message}`, {
          cause: error,
          hint: 'pick another --port',
        }),
      );
    });
  });
  // Requests Node cannot even parse (bad framing, headers over the limit) still get a JSON 4xx, not a bare 400.
  server!.on('clientError', (error: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify({
      error: {
        code: tooLarge ? 'E_HEADERS_TOO_LARGE' : 'E_BAD_REQUEST',
        message: tooLarge ? 'the request headers are too large' : `the request is not valid HTTP (${error.code ?? 'parse error'})`,
      },
    });
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  requeuer?.start();
  queueMetrics?.start();
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    db,
    stop: () =>
      (stopped ??= (async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        queueMetrics?.stop();
        await requeuer?.stop();
        await db.close();
      })()),
  };
}
