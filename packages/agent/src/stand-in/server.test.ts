import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { after, describe, test } from 'node:test';
import { STAND_IN_LATENCY_HEADER, startStandInServer } from './server.ts';
import type { StandInServer } from './server.ts';

interface SseEvent {
  data: string;
  at: number;
  read: number;
}

/** Reads a server-sent-event body, stamping each event with its arrival time and the read it came in. */
async function readSse(response: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  let read = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    read++;
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      assert.ok(block.startsWith('data: '), `event should start with "data: ": ${block}`);
      events.push({ data: block.slice('data: '.length), at: performance.now(), read });
    }
  }
  assert.equal(buffer, '', 'nothing may trail the last event');
  return events;
}

function post(server: StandInServer, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function assertOpenAiError(response: Response, status: number, pattern: RegExp): Promise<void> {
  assert.equal(response.status, status);
  const body = (await response.json()) as { error: { message: string; type: string } };
  assert.equal(typeof body.error.message, 'string');
  assert.match(body.error.message, pattern);
  assert.equal(typeof body.error.type, 'string');
}

describe('stand-in server', () => {
  const servers: StandInServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.stop({ graceMs: 0 })));
  });
  async function start(options: Parameters<typeof startStandInServer>[0] = {}): Promise<StandInServer> {
    const server = await startStandInServer({ port: 0, tokenLatencyMs: 0, servedBy: 'node-a', ...options });
    servers.push(server);
    return server;
  }

  test('streaming chat completion sends N chunk events then [DONE], one per token latency', async () => {
    const server = await start();
    const LATENCY = 150;
    // Warm up first (undici loads on the first fetch, the server's paths compile), so the
    // timed request measures the stream, not a cold process.
    const warm = await post(server, '/v1/chat/completions', { messages: [{ role: 'user', content: 'warm' }], max_tokens: 1 });
    assert.equal(warm.status, 200);
    await warm.text();
    const began = performance.now();
    const response = await post(
      server,
      '/v1/chat/completions',
      {
        model: 'synkti-stand-in',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 8,
        stream: true,
      },
      { [STAND_IN_LATENCY_HEADER]: String(LATENCY) },
    );
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(response.headers.get('x-served-by'), 'node-a');
    const events = await readSse(response);
    assert.equal(events.length, 9);
    assert.equal(events.at(-1)!.data, '[DONE]');
    const chunks = events.slice(0, -1).map(
      (e) =>
        JSON.parse(e.data) as {
          id: string;
          object: string;
          model: string;
          created: number;
          choices: { index: number; delta: { role?: string; content?: string }; finish_reason: string | null }[];
        },
    );
    for (const [i, chunk] of chunks.entries()) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.model, 'synkti-stand-in');
      assert.equal(chunk.id, chunks[0]!.id);
      assert.match(chunk.id, /^chatcmpl-/);
      assert.equal(typeof chunk.choices[0]!.delta.content, 'string');
      assert.equal(chunk.choices[0]!.finish_reason, i === chunks.length - 1 ? 'length' : null);
    }
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
    // Pacing, checked in ways load cannot flip. Arrival gaps between events are not: the
    // stand-in keeps a fixed schedule from the start (token i is due at (i + 1) x latency), so
    // a process descheduled for a while (in-process server and client) catches up by writing
    // the overdue tokens together ("7 gaps took 252 ms" at load ~30 with two busy loops).
    // 1. Never faster than its token latency: token i cannot reach the client before it is
    //    due (load only delays it). 5 ms is timer/clock granularity.
    for (const [i, event] of events.slice(0, 8).entries()) {
      const at = event.at - began;
      assert.ok(at >= (i + 1) * LATENCY - 5, `token ${i} arrived after ${at.toFixed(0)} ms, due at ${(i + 1) * LATENCY} ms`);
    }
    // 2. Streamed, not held back to the end: the first token reaches the client before the
    //    last one is even due (a buffered stream cannot), and [DONE] comes in a later read.
    //    This allows 1,050 ms of scheduling delay on the first token.
    const first = events[0]!.at - began;
    assert.ok(first < 8 * LATENCY, `first token after ${first.toFixed(0)} ms, before the last is due at ${8 * LATENCY} ms`);
    assert.ok(events.at(-1)!.read > events[0]!.read, 'the first token and [DONE] arrive in separate reads');
    // 3. A loose "did it hang" bound on the whole stream, not a pacing claim.
    const total = events.at(-1)!.at - began;
    assert.ok(total < 8 * LATENCY + 10_000, `the stream took ${total.toFixed(0)} ms`);
  });

  test('streaming text completion uses text_completion chunks and can include usage', async () => {
    const server = await start();
    const response = await post(server, '/v1/completions', {
      prompt: 'one two three',
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    const events = await readSse(response);
    assert.equal(events.length, 5);
    const parsed = events.slice(0, 4).map(
      (e) =>
        JSON.parse(e.data) as {
          object: string;
          choices: { text: string }[];
          usage?: { prompt_tokens: number; completion_tokens: number };
        },
    );
    for (const chunk of parsed.slice(0, 3)) {
      assert.equal(chunk.object, 'text_completion');
      assert.equal(typeof chunk.choices[0]!.text, 'string');
    }
    assert.deepEqual(parsed[3]!.choices, []);
    assert.equal(parsed[3]!.usage?.completion_tokens, 3);
    assert.equal(parsed[3]!.usage?.prompt_tokens, 3);
    assert.equal(events[4]!.data, '[DONE]');
  });

  test('non-streaming responses have the OpenAI shapes and are deterministic', async () => {
    const server = await start();
    const chat = await post(server, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi there' }], max_tokens: 5 });
    assert.equal(chat.status, 200);
    assert.equal(chat.headers.get('x-served-by'), 'node-a');
    const body = (await chat.json()) as {
      id: string;
      object: string;
      created: number;
      model: string;
      choices: { index: number; message: { role: string; content: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.object, 'chat.completion');
    assert.ok(Number.isInteger(body.created) && body.created > 1_600_000_000);
    assert.equal(body.model, 'synkti-stand-in');
    assert.equal(body.choices.length, 1);
    assert.equal(body.choices[0]!.message.role, 'assistant');
    assert.equal(body.choices[0]!.message.content.split(' ').length, 5);
    assert.equal(body.choices[0]!.finish_reason, 'length');
    assert.deepEqual(body.usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });

    const again = (await (
      await post(server, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi there' }], max_tokens: 5 })
    ).json()) as typeof body;
    assert.equal(again.choices[0]!.message.content, body.choices[0]!.message.content);
    assert.notEqual(again.id, body.id);

    const completion = (await (await post(server, '/v1/completions', { prompt: 'x' })).json()) as {
      object: string;
      id: string;
      choices: { text: string; finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    assert.equal(completion.object, 'text_completion');
    assert.match(completion.id, /^cmpl-/);
    assert.equal(completion.usage.completion_tokens, 16, 'max_tokens defaults to 16');
    assert.equal(completion.choices[0]!.text.split(' ').length, 16);

    const capped = (await (await post(server, '/v1/completions', { prompt: 'x', max_tokens: 100_000 })).json()) as typeof completion;
    assert.equal(capped.usage.completion_tokens, 4096);
  });

  test('health and model list', async () => {
    const server = await start({ model: 'my-model' });
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('x-served-by'), 'node-a');
    await health.body?.cancel();
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { object: string; data: { id: string; object: string }[] };
    assert.equal(models.object, 'list');
    assert.deepEqual(
      models.data.map((m) => [m.id, m.object]),
      [['my-model', 'model']],
    );
  });

  test('invalid requests get OpenAI-shaped 400, 404 and 413 errors', async () => {
    const server = await start();
    await assertOpenAiError(await post(server, '/v1/chat/completions', '{"messages": ['), 400, /not valid JSON/);
    const badJson = await post(server, '/v1/completions', 'nope');
    assert.equal(badJson.status, 400);
    assert.equal(((await badJson.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
    await assertOpenAiError(await post(server, '/v1/chat/completions', { max_tokens: 2 }), 400, /messages/);
    await assertOpenAiError(await post(server, '/v1/chat/completions', { messages: [] }), 400, /messages/);
    await assertOpenAiError(await post(server, '/v1/completions', { max_tokens: 2 }), 400, /prompt/);
    await assertOpenAiError(await post(server, '/v1/completions', { prompt: 'x', max_tokens: -1 }), 400, /max_tokens/);
    await assertOpenAiError(await post(server, '/v1/completions', { prompt: 'x', stream: 'yes' }), 400, /stream/);
    await assertOpenAiError(await post(server, '/v1/completions', { prompt: 'x' }, { [STAND_IN_LATENCY_HEADER]: 'fast' }), 400, /latency/);
    await assertOpenAiError(
      await post(server, '/v1/chat/completions', { model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] }),
      404,
      /gpt-4/,
    );
    await assertOpenAiError(await fetch(`${server.url}/v2/nothing`), 404, /no route/);
    await assertOpenAiError(await fetch(`${server.url}/v1/completions`), 405, /POST/);

    const big = JSON.stringify({ prompt: 'x'.repeat(2 * 1024 * 1024) });
    await assertOpenAiError(await post(server, '/v1/completions', big), 413, /limit/);
    // Without a content-length (chunked upload) the limit holds as well.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(100 * 1024).fill(32));
        controller.close();
      },
    });
    const response = await fetch(`${server.url}/v1/completions`, { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
    await assertOpenAiError(response, 413, /limit/);
    // The server still works after the rejections.
    assert.equal((await post(server, '/v1/completions', { prompt: 'x', max_tokens: 1 })).status, 200);
  });

  test('startup delay answers 503 until the simulated model load is over', async () => {
    const began = performance.now();
    // 1.5 s, not 300 ms: the two 503 checks below must land inside the delay, and at load ~30
    // (two busy loops) they took longer than 300 ms (the POST got 200).
    const server = await start({ startupDelayMs: 1500 });
    assert.equal(server.isReady(), false);
    const early = await fetch(`${server.url}/health`);
    assert.equal(early.status, 503);
    await early.body?.cancel();
    await assertOpenAiError(await post(server, '/v1/completions', { prompt: 'x' }), 503, /loading/);
    let status = 0;
    while (status !== 200 && performance.now() - began < 15_000) {
      const res = await fetch(`${server.url}/health`);
      status = res.status;
      await res.body?.cancel();
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(status, 200);
    assert.ok(performance.now() - began >= 1490, 'not ready before the startup delay');
  });

  test('a client aborting mid-stream stops generation and leaves no timer behind', async () => {
    const server = await start({ tokenLatencyMs: 200 });
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const firstChunk = await new Promise<{ res: IncomingMessage; at: number }>((resolve, reject) => {
      const req = request(
        `${server.url}/v1/chat/completions`,
        { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.once('data', () => resolve({ res, at: performance.now() }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 1000, stream: true }));
    });
    assert.equal(server.inFlight(), 1);
    firstChunk.res.destroy();
    while (server.inFlight() > 0 && performance.now() - firstChunk.at < 2000) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(server.inFlight(), 0);
    assert.ok(performance.now() - firstChunk.at < 150, 'generation stopped before the next token was due');
    await new Promise((resolve) => setImmediate(resolve));
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.ok(timersAfter <= timersBefore, `timers before ${timersBefore}, after ${timersAfter}`);
  });

  test('stop() lets an in-flight stream finish, refuses new connections, and cuts at the grace', async () => {
    const server = await start({ tokenLatencyMs: 30 });
    const streaming = post(server, '/v1/completions', { prompt: 'x', max_tokens: 10, stream: true }).then(readSse);
    while (server.inFlight() === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const stopped = server.stop({ graceMs: 5000 });
    assert.equal(server.isReady(), false);
    await assert.rejects(fetch(`${server.url}/health`), 'new connections are refused while draining');
    const events = await streaming;
    assert.equal(events.length, 11);
    assert.equal(events.at(-1)!.data, '[DONE]');
    await stopped;

    const slow = await start({ tokenLatencyMs: 1000 });
    const response = await post(slow, '/v1/completions', { prompt: 'x', max_tokens: 100, stream: true });
    const began = performance.now();
    await slow.stop({ graceMs: 100 });
    assert.ok(performance.now() - began < 1000, 'stop() returned after the grace');
    await assert.rejects(readSse(response), 'the cut stream errors instead of ending cleanly');
    assert.equal(slow.inFlight(), 0);
  });

  test('a second server on a used port fails with a clear error', async () => {
    const server = await start();
    await assert.rejects(startStandInServer({ port: server.port }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'E_STAND_IN_LISTEN');
      assert.match(error.message, /EADDRINUSE/);
      return true;
    });
  });

  test('maxRunning: requests past the batch wait in a queue, shown as vllm:num_requests_waiting, and run in turn', async () => {
    const server = await start({ maxRunning: 1, tokenLatencyMs: 20 });
    const body = { model: 'synkti-stand-in', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, stream: true };
    // The first request runs 10 x 300 ms, so the queue can be seen while it runs even at load
    // ~30 (at 10 x 20 ms it had ended before /metrics answered: waiting 0).
    const first = await post(server, '/v1/chat/completions', body, { [STAND_IN_LATENCY_HEADER]: '300' });
    const second = post(server, '/v1/chat/completions', body);
    // Wait (bounded) until the second request is queued behind the first.
    const deadline = Date.now() + 5000;
    while (server.engineLoad().waiting < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^vllm:num_requests_running\{model_name="synkti-stand-in"\} 1$/m);
    assert.match(metrics, /^vllm:num_requests_waiting\{model_name="synkti-stand-in"\} 1$/m);
    assert.match(metrics, /^vllm:kv_cache_usage_perc\{model_name="synkti-stand-in"\} 1$/m);
    const firstEvents = await readSse(first);
    const secondEvents = await readSse(await second);
    assert.equal(firstEvents.length, 11);
    assert.equal(secondEvents.length, 11);
    // The queued request produced no token before the first one finished.
    assert.ok(secondEvents[0]!.at >= firstEvents.at(-1)!.at, 'second request started generating only after the first ended');
    assert.deepEqual(server.engineLoad(), { running: 0, waiting: 0 });
  });
});
