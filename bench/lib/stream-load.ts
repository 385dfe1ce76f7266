/**
 * Streaming load client (runs as its own process, so its CPU is not the proxy's and not
 * the orchestrator's): keeps `STREAMS` SSE requests open against `URL` (closed loop: a
 * finished stream is replaced at once) for `DURATION_S`, then lets the open ones finish.
 * Measures each stream's time to first event (TTFT, from the request's start) and each
 * later event's delay from its upstream send time (the `"t"` field) to its arrival here.
 * Prints one JSON line: requests, failed, events, ttft/delay p50 and p99 in ms.
 *
 * Env: URL (required), STREAMS (default 64), DURATION_S (default 10), STAGGER_MS (first starts
 * spread over this long, default 0), MAX_TOKENS (asked of the server, default 16).
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const url = process.env.URL;
if (!url) {
  console.error('URL is required');
  process.exit(2);
}
const streams = Number(process.env.STREAMS ?? 64);
const durationMs = Number(process.env.DURATION_S ?? 10) * 1000;
const target = new URL(url);
const body = JSON.stringify({
  model: 'bench-model',
  stream: true,
  max_tokens: Number(process.env.MAX_TOKENS ?? 16),
  messages: [{ role: 'user', content: 'Say something.' }],
});
const agent = new http.Agent({ keepAlive: true, maxSockets: streams, noDelay: true });
const now = (): number => performance.timeOrigin + performance.now();

const ttfts: number[] = [];
const delays: number[] = [];
let requests = 0;
let failed = 0;
let events = 0;
const started = Date.now();
let open = 0;
let done: () => void = () => {};
const finished = new Promise<void>((resolve) => (done = resolve));
const T_FIELD = '"t":';

function one(): void {
  if (Date.now() - started >= durationMs) {
    if (open === 0) done();
    return;
  }
  open++;
  requests++;
  const t0 = now();
  let first = true;
  let seen = 0;
  let complete = false;
  let tail = '';
  const fail = (): void => {
    if (complete) return;
    complete = true;
    failed++;
    open--;
    one();
  };
  const req = http.request(
    {
      agent,
      host: target.hostname,
      port: target.port,
      path: '/v1/chat/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    },
    (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail();
        return;
      }
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => {
        const at = now();
        if (first) {
          first = false;
          ttfts.push(at - t0);
        }
        let text = tail + chunk;
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const ev = text.slice(0, end);
          text = text.slice(end + 2);
          if (ev === 'data: [DONE]') continue;
          events++;
          // The first event's delay is part of TTFT; later ones are the per-token delay (when the upstream stamps its events).
          const i = ev.lastIndexOf(T_FIELD);
          if (i >= 0 && seen++ > 0) delays.push(at - Number.parseFloat(ev.slice(i + T_FIELD.length)));
        }
        tail = text;
      });
      res.on('end', () => {
        if (complete) return;
        complete = true;
        open--;
        one();
      });
      res.on('error', fail);
      res.on('aborted', fail);
    },
  );
  req.on('error', fail);
  req.end(body);
}

// Starts spread over one stream's length: all streams starting (and so ending) together would
// make every TTFT measure a burst of `streams` requests at once instead of the path.
const staggerMs = Number(process.env.STAGGER_MS ?? 0);
for (let i = 0; i < streams; i++) setTimeout(one, (i * staggerMs) / streams);
// Open streams finish on their own; a stuck one must not hang the benchmark.
const guard = setTimeout(() => done(), durationMs + 30_000);
await finished;
clearTimeout(guard);

function pct(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
process.stdout.write(
  `${JSON.stringify({
    result: true,
    requests,
    failed: failed + open,
    events,
    ttft_p50_ms: r3(pct(ttfts, 50)),
    ttft_p99_ms: r3(pct(ttfts, 99)),
    delay_p50_ms: r3(pct(delays, 50)),
    delay_p99_ms: r3(pct(delays, 99)),
  })}\n`,
);
agent.destroy();
process.exit(0);
