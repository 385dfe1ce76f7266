/**
 * Streaming benchmark upstream (runs as its own process): answers every request with an
 * OpenAI-style SSE stream of `TOKENS` chat.completion.chunk events, like a model server.
 * The first event goes out as soon as the request body is in (no prefill time, so the time
 * to first token measures the path, not the model); later events go out on one shared
 * decode tick of `1000 / TOKEN_RATE` ms for every running stream at once, as an inference
 * engine's decode step emits one token for every sequence in its batch. Each event carries
 * its send time (`"t"`, ms since the epoch, sub-ms) so the client can measure each event's
 * delay through a proxy. Prints `{"ready":true,"port":N}` once listening; exits when its
 * parent goes away (stdin closes).
 *
 * Env: PORT (default 0), TOKENS per stream (default 100), TOKEN_RATE per stream per second
 * (default 50).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

const tokens = Number(process.env.TOKENS ?? 100);
const rate = Number(process.env.TOKEN_RATE ?? 50);
if (!(tokens >= 1) || !(rate > 0)) {
  console.error(`TOKENS must be >= 1 and TOKEN_RATE > 0, got ${tokens} and ${rate}`);
  process.exit(2);
}

interface Stream {
  res: http.ServerResponse;
  sent: number;
}
const streams = new Set<Stream>();
const created = Math.floor(Date.now() / 1000);
const now = (): number => performance.timeOrigin + performance.now();

function event(sent: number): string {
  const last = sent === tokens - 1;
  const delta = last ? '{}' : '{"content":" tok"}';
  const finish = last ? '"stop"' : 'null';
  return (
    `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":${created},"model":"bench-model",` +
    `"choices":[{"index":0,"delta":${delta},"finish_reason":${finish}}],"t":${now().toFixed(3)}}\n\n`
  );
}

function step(s: Stream): void {
  s.res.write(event(s.sent));
  s.sent++;
  if (s.sent >= tokens) {
    streams.delete(s);
    s.res.end('data: [DONE]\n\n');
  }
}

const server = http.createServer({ keepAliveTimeout: 120_000, noDelay: true }, (req, res) => {
  req.resume();
  req.once('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const s: Stream = { res, sent: 0 };
    res.once('close', () => streams.delete(s));
    streams.add(s);
    step(s);
  });
});

setInterval(() => {
  for (const s of streams) step(s);
}, 1000 / rate);

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port })}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
