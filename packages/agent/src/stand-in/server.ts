/**
 * A STAND-IN for an OpenAI-compatible inference server (vLLM). It loads no model: it
 * answers the OpenAI completion endpoints with deterministic filler tokens at a fixed
 * per-token latency, so demos and tests can exercise streaming, draining and routing on a
 * machine without a GPU. Never mistake its output for a model's.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SynktiError } from '@synkti/core';

/** Name of the model the stand-in serves unless told otherwise. */
export const STAND_IN_DEFAULT_MODEL = 'synkti-stand-in';
/** Request header that overrides the per-token latency of one request (milliseconds). */
export const STAND_IN_LATENCY_HEADER = 'x-stand-in-token-latency-ms';
/** Largest `max_tokens` a request may ask for; larger values are capped to it. */
export const STAND_IN_MAX_TOKENS_CAP = 4096;
const DEFAULT_MAX_TOKENS = 16;

export interface StandInServerOptions {
  /** TCP port; 0 picks a free one (read it back from `server.port`). @default 8000 */
  port?: number;
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** The one model id served; requests naming another get 404. @default 'synkti-stand-in' */
  model?: string;
  /** Delay between two generated tokens, in ms. @default 20 */
  tokenLatencyMs?: number;
  /** Time during which `/health` and every endpoint answer 503, simulating model load. @default 0 */
  startupDelayMs?: number;
  /** Value of the `x-served-by` response header. @default process.env.SYNKTI_INSTANCE_ID ?? 'stand-in' */
  servedBy?: string;
  /** How long `stop()` lets in-flight requests finish before cutting them. @default 30000 */
  shutdownGraceMs?: number;
  /** Largest request body accepted; larger gets 413. @default 1048576 (1 MiB) */
  maxBodyBytes?: number;
  /**
   * Requests generated at once, like an engine's batch (vLLM's max_num_seqs); more wait in
   * a FIFO queue, producing no token, and show as `vllm:num_requests_waiting`. 0: no limit.
   * @default 0
   */
  maxRunning?: number;
}

export interface StandInServer {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly model: string;
  /** Completion requests currently being generated (or having their body read), queued ones included. */
  inFlight(): number;
  /** Requests generating tokens now and requests queued for a slot (`maxRunning`). */
  engineLoad(): { running: number; waiting: number };
  /** True once the startup delay has passed and until `stop()` is called. */
  isReady(): boolean;
  /**
   * Stops accepting connections, answers 503 to new requests on open connections, lets
   * in-flight requests finish for up to `graceMs`, then cuts what is left. Idempotent.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

const FILLER_WORDS = ['stand', 'in', 'filler', 'token', 'lorem', 'ipsum', 'dolor', 'sit', 'amet', 'spot', 'fleet', 'synkti'] as const;

/** Thrown inside request handling; turned into an OpenAI-shaped error response. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

interface Generation {
  readonly abort: AbortController;
}

interface ParsedRequest {
  kind: 'chat' | 'completion';
  maxTokens: number;
  stream: boolean;
  includeUsage: boolean;
  promptText: string;
}

export async function startStandInServer(options: StandInServerOptions = {}): Promise<StandInServer> {
  const host = options.host ?? '127.0.0.1';
  const model = options.model ?? STAND_IN_DEFAULT_MODEL;
  const tokenLatencyMs = checkNonNegative(options.tokenLatencyMs ?? 20, 'tokenLatencyMs');
  const startupDelayMs = checkNonNegative(options.startupDelayMs ?? 0, 'startupDelayMs');
  const shutdownGraceMs = checkNonNegative(options.shutdownGraceMs ?? 30_000, 'shutdownGraceMs');
  const maxBodyBytes = checkNonNegative(options.maxBodyBytes ?? 1024 * 1024, 'maxBodyBytes');
  const maxRunning = checkNonNegative(options.maxRunning ?? 0, 'maxRunning');
  const servedBy = options.servedBy ?? process.env.SYNKTI_INSTANCE_ID ?? 'stand-in';
  const created = Math.floor(Date.now() / 1000);

  let loaded = startupDelayMs === 0;
  let draining = false;
  const generations = new Set<Generation>();
  let inFlightCount = 0;
  const idleWaiters: (() => void)[] = [];
  // The engine's scheduler: `running` generate, the rest wait in arrival order.
  let running = 0;
  const runQueue: (() => void)[] = [];

  /** Resolves once the request may generate; false when it was aborted while waiting. */
  function takeRunSlot(signal: AbortSignal): Promise<boolean> {
    if (maxRunning === 0 || running < maxRunning) {
      running++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const start = (): void => {
        signal.removeEventListener('abort', onAbort);
        running++;
        resolve(true);
      };
      const onAbort = (): void => {
        const i = runQueue.indexOf(start);
        if (i >= 0) runQueue.splice(i, 1);
        resolve(false);
      };
      runQueue.push(start);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  function releaseRunSlot(): void {
    running--;
    runQueue.shift()?.();
  }

  const server: Server = createServer((req, res) => {
    res.setHeader('x-served-by', servedBy);
    if (draining) res.setHeader('connection', 'close');
    // While draining, a connection that goes idle is closed so server.close() can finish.
    res.once('close', () => {
      if (draining) setImmediate(() => server.closeIdleConnections());
    });
    handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) sendError(res, error);
      else if (!res.headersSent) sendError(res, new HttpError(500, `stand-in internal error: ${String(error)}`, 'internal_error'));
      else res.destroy();
    });
  });
  // Each SSE event must leave as soon as it is written.
  server.on('connection', (socket) => socket.setNoDelay(true));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req, 'GET');
      if (draining) return sendJson(res, 503, { status: 'draining' });
      if (!loaded) return sendJson(res, 503, { status: 'loading' });
      return sendJson(res, 200, { status: 'ok' });
    }
    if (path === '/metrics') {
      // The gauges vLLM exports for its scheduler, under vLLM's names, so the agent reads a
      // node's in-flight work and queue the same way from the stand-in and from vLLM. KV-cache
      // use is modelled as the share of batch slots taken (0 with no limit).
      if (req.method !== 'GET') throw methodNotAllowed(req, 'GET');
      const waiting = runQueue.length;
      const kv = maxRunning === 0 ? 0 : Math.min(1, running / maxRunning);
      const text =
        '# HELP vllm:num_requests_running Requests being generated.\n# TYPE vllm:num_requests_running gauge\n' +
        `vllm:num_requests_running{model_name="${model}"} ${inFlightCount - waiting}\n` +
        '# HELP vllm:num_requests_waiting Requests waiting to be scheduled.\n# TYPE vllm:num_requests_waiting gauge\n' +
        `vllm:num_requests_waiting{model_name="${model}"} ${waiting}\n` +
        '# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n# TYPE vllm:kv_cache_usage_perc gauge\n' +
        `vllm:kv_cache_usage_perc{model_name="${model}"} ${kv}\n`;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (path === '/v1/models') {
      if (req.method !== 'GET') throw methodNotAllowed(req, 'GET');
      unavailableUnlessServing();
      return sendJson(res, 200, {
        object: 'list',
        data: [
          {
            id: model,
            object: 'model',
            created,
            owned_by: 'synkti-stand-in',
            root: model,
            parent: null,
            max_model_len: STAND_IN_MAX_TOKENS_CAP,
          },
        ],
      });
    }
    if (path === '/v1/chat/completions' || path === '/v1/completions') {
      if (req.method !== 'POST') throw methodNotAllowed(req, 'POST');
      unavailableUnlessServing();
      const generation: Generation = { abort: new AbortController() };
      inFlightCount++;
      generations.add(generation);
      // 'close' fires when the response is done or the client went away: either way the
      // generation must stop, so no timer outlives its request.
      res.once('close', () => {
        generation.abort.abort();
        generations.delete(generation);
        inFlightCount--;
        if (inFlightCount === 0) for (const resolve of idleWaiters.splice(0)) resolve();
      });
      const body = await readJsonBody(req, maxBodyBytes);
      const latency = latencyFor(req);
      const parsed = parseRequest(path === '/v1/chat/completions' ? 'chat' : 'completion', body, model);
      const signal = generation.abort.signal;
      if (!(await takeRunSlot(signal))) return;
      try {
        return await generate(res, parsed, latency, signal);
      } finally {
        releaseRunSlot();
      }
    }
    throw new HttpError(
      404,
      `no route ${req.method ?? ''} ${path}: the stand-in serves /health, /v1/models, /v1/completions and /v1/chat/completions`,
      'invalid_request_error',
    );
  }

  function unavailableUnlessServing(): void {
    if (draining) throw new HttpError(503, 'the stand-in model server is shutting down; retry on another replica', 'service_unavailable');
    if (!loaded)
      throw new HttpError(
        503,
        'the stand-in model server is still loading (startup delay); retry when /health answers 200',
        'service_unavailable',
      );
  }

  function latencyFor(req: IncomingMessage): number {
    const raw = req.headers[STAND_IN_LATENCY_HEADER];
    if (raw === undefined) return tokenLatencyMs;
    const value = Number(Array.isArray(raw) ? raw[0] : raw);
    if (!Number.isFinite(value) || value < 0 || value > 60_000) {
      throw new HttpError(
        400,
        `header ${STAND_IN_LATENCY_HEADER} must be a number of milliseconds between 0 and 60000`,
        'invalid_request_error',
      );
    }
    return value;
  }

  async function generate(res: ServerResponse, request: ParsedRequest, latencyMs: number, signal: AbortSignal): Promise<void> {
    const id = `${request.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
    const createdAt = Math.floor(Date.now() / 1000);
    const offset = fnv1a(request.promptText) % FILLER_WORDS.length;
    const usage = {
      prompt_tokens: countWords(request.promptText),
      completion_tokens: request.maxTokens,
      total_tokens: countWords(request.promptText) + request.maxTokens,
    };
    const started = performance.now();
    const tokens: string[] = [];

    if (request.stream) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      });
      res.flushHeaders();
    }
    for (let i = 0; i < request.maxTokens; i++) {
      // Tokens are due on a fixed schedule from the start, so latency does not drift.
      const wait = started + (i + 1) * latencyMs - performance.now();
      try {
        if (wait > 0) await sleep(wait, undefined, { signal });
        else if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
      } catch {
        return; // aborted: client gone or server cut
      }
      if (signal.aborted) return;
      const token = `${i === 0 ? '' : ' '}${FILLER_WORDS[(offset + i) % FILLER_WORDS.length]!}`;
      tokens.push(token);
      if (!request.stream) continue;
      const last = i === request.maxTokens - 1;
      const finish = last ? 'length' : null;
      const chunk =
        request.kind === 'chat'
          ? {
              id,
              object: 'chat.completion.chunk',
              created: createdAt,
              model,
              choices: [
                {
                  index: 0,
                  delta: i === 0 ? { role: 'assistant', content: token } : { content: token },
                  logprobs: null,
                  finish_reason: finish,
                },
              ],
            }
          : {
              id,
              object: 'text_completion',
              created: createdAt,
              model,
              choices: [{ index: 0, text: token, logprobs: null, finish_reason: finish }],
            };
      if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) {
        try {
          await once(res, 'drain', { signal });
        } catch {
          return;
        }
      }
    }
    if (request.stream) {
      if (request.includeUsage) {
        const object = request.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
        res.write(`data: ${JSON.stringify({ id, object, created: createdAt, model, choices: [], usage })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    const text = tokens.join('');
    const choice =
      request.kind === 'chat'
        ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: 'length' }
        : { index: 0, text, logprobs: null, finish_reason: 'length' };
    sendJson(res, 200, {
      id,
      object: request.kind === 'chat' ? 'chat.completion' : 'text_completion',
      created: createdAt,
      model,
      choices: [choice],
      usage,
    });
  }

  server.listen({ port: options.port ?? 8000, host });
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]: unknown[]) => {
        throw error;
      }),
    ]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SynktiError(
      'E_STAND_IN_LISTEN',
      `stand-in model server could not listen on ${host}:${options.port ?? 8000}: ${code ?? String(error)}`,
      {
        cause: error,
        hint: code === 'EADDRINUSE' ? 'another process uses that port; pick another with --port' : 'check --host and --port',
      },
    );
  }
  const port = (server.address() as AddressInfo).port;
  const loadTimer =
    startupDelayMs > 0
      ? setTimeout(() => {
          loaded = true;
        }, startupDelayMs)
      : undefined;
  loadTimer?.unref();

  let stopping: Promise<void> | undefined;
  async function stop(stopOptions: { graceMs?: number } = {}): Promise<void> {
    stopping ??= (async () => {
      const graceMs = stopOptions.graceMs ?? shutdownGraceMs;
      draining = true;
      if (loadTimer) clearTimeout(loadTimer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Past the grace, whatever is still open is cut (its generation stops with it).
      const graceTimer = setTimeout(() => {
        for (const generation of generations) generation.abort.abort();
        server.closeAllConnections();
      }, graceMs);
      graceTimer.unref();
      await closed;
      clearTimeout(graceTimer);
      // A cut response reports 'close' just after its socket: stop() means nothing runs.
      if (inFlightCount > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
    })();
    return stopping;
  }

  const displayHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${displayHost}:${port}`,
    host,
    port,
    model,
    inFlight: () => inFlightCount,
    engineLoad: () => ({ running, waiting: runQueue.length }),
    isReady: () => loaded && !draining,
    stop,
  };
}

function checkNonNegative(value: number, field: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new SynktiError('E_STAND_IN_OPTIONS', `stand-in option ${field} must be a non-negative number, got ${value}`);
  }
  return value;
}

function methodNotAllowed(req: IncomingMessage, allowed: string): HttpError {
  return new HttpError(405, `method ${req.method ?? ''} not allowed on ${req.url ?? ''}; use ${allowed}`, 'invalid_request_error');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, {
    error: { message: error.message, type: error.type, param: error.param, code: error.code ?? error.status },
  });
}

/**
 * Reads the body up to `limit` bytes. Past the limit the rest is read and thrown away
 * before the 413 goes out: answering while the client still sends would reset the
 * connection and the client would never see the status. A body far past the limit is cut.
 */
async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = () => new HttpError(413, `request body exceeds the stand-in's limit of ${limit} bytes`, 'invalid_request_error');
  const discardCap = Math.max(limit * 16, 16 * 1024 * 1024);
  if (Number.isFinite(declared) && declared > discardCap) {
    req.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > discardCap) {
      req.destroy();
      throw tooLarge();
    }
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) throw tooLarge();
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, `request body is not valid JSON: ${(error as Error).message}`, 'invalid_request_error');
  }
}

function parseRequest(kind: 'chat' | 'completion', body: unknown, model: string): ParsedRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'request body must be a JSON object', 'invalid_request_error');
  }
  const fields = body as Record<string, unknown>;
  if (fields.model !== undefined) {
    if (typeof fields.model !== 'string') throw new HttpError(400, '"model" must be a string', 'invalid_request_error', 'model');
    if (fields.model !== model) {
      throw new HttpError(
        404,
        `The model \`${fields.model}\` does not exist. This stand-in serves only \`${model}\`.`,
        'invalid_request_error',
        'model',
        'model_not_found',
      );
    }
  }
  let promptText: string;
  if (kind === 'chat') {
    const messages = fields.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new HttpError(
        400,
        '"messages" is required and must be a non-empty array of {role, content}',
        'invalid_request_error',
        'messages',
      );
    }
    const parts: string[] = [];
    messages.forEach((message: unknown, index) => {
      if (typeof message !== 'object' || message === null || typeof (message as { role?: unknown }).role !== 'string') {
        throw new HttpError(400, `messages[${index}] must be an object with a string "role"`, 'invalid_request_error', 'messages');
      }
      const content = (message as { content?: unknown }).content;
      if (typeof content === 'string') parts.push(content);
      else if (Array.isArray(content)) {
        for (const part of content) if (typeof part?.text === 'string') parts.push(part.text as string);
      } else if (content !== null && content !== undefined) {
        throw new HttpError(
          400,
          `messages[${index}].content must be a string or an array of content parts`,
          'invalid_request_error',
          'messages',
        );
      }
    });
    promptText = parts.join('\n');
  } else {
    const prompt = fields.prompt;
    if (typeof prompt === 'string') promptText = prompt;
    else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'number' && Number.isInteger(p))) {
      promptText = prompt.map(() => 'x').join(' ');
    } else if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') {
      promptText = prompt[0];
    } else if (Array.isArray(prompt) && prompt.length > 1) {
      throw new HttpError(
        400,
        'the stand-in accepts one prompt per request ("prompt" must be a string)',
        'invalid_request_error',
        'prompt',
      );
    } else {
      throw new HttpError(400, '"prompt" is required and must be a string', 'invalid_request_error', 'prompt');
    }
  }
  const requested = fields.max_tokens ?? fields.max_completion_tokens;
  let maxTokens = DEFAULT_MAX_TOKENS;
  if (requested !== undefined && requested !== null) {
    if (typeof requested !== 'number' || !Number.isInteger(requested) || requested < 1) {
      throw new HttpError(400, '"max_tokens" must be a positive integer', 'invalid_request_error', 'max_tokens');
    }
    maxTokens = Math.min(requested, STAND_IN_MAX_TOKENS_CAP);
  }
  if (fields.stream !== undefined && fields.stream !== null && typeof fields.stream !== 'boolean') {
    throw new HttpError(400, '"stream" must be a boolean', 'invalid_request_error', 'stream');
  }
  if (fields.n !== undefined && fields.n !== null && fields.n !== 1) {
    throw new HttpError(400, 'the stand-in supports only n=1', 'invalid_request_error', 'n');
  }
  const streamOptions = fields.stream_options as { include_usage?: unknown } | undefined | null;
  return {
    kind,
    maxTokens,
    stream: fields.stream === true,
    includeUsage: fields.stream === true && streamOptions?.include_usage === true,
    promptText,
  };
}

function countWords(text: string): number {
  const words = text
    .trim()
    .split(/\s+/)
    .filter((w) => w.length > 0).length;
  return Math.max(1, words);
}

/** FNV-1a: a tiny stable hash so the same prompt always yields the same filler. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
