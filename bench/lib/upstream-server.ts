/**
 * Benchmark upstream (runs as its own process): answers every request with the same
 * ~200-byte JSON, like a tiny model server. Prints `{"ready":true,"port":N}` once listening
 * and exits when its parent goes away (stdin closes).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const body = Buffer.from(
  JSON.stringify({
    id: 'cmpl-bench-0001',
    object: 'text_completion',
    created: 1767225600,
    model: 'bench-model',
    choices: [{ index: 0, text: ' Spot capacity, no control plane.', finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
  }),
);
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };

const server = http.createServer({ keepAliveTimeout: 120_000, noDelay: true }, (req, res) => {
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port, bytes: body.length })}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
