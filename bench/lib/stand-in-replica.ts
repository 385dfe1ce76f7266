/**
 * One stand-in model server replica for a benchmark (its own process): TOKEN_LATENCY_MS per
 * token, MAX_RUNNING requests generated at once (the rest queue, as in an engine), model id
 * bench-model. Prints `{"ready":true,"port":N}`; exits when its parent goes away.
 */
import { startStandInServer } from '../../packages/agent/src/stand-in/server.ts';

const server = await startStandInServer({
  port: 0,
  model: 'bench-model',
  tokenLatencyMs: Number(process.env.TOKEN_LATENCY_MS ?? 20),
  maxRunning: Number(process.env.MAX_RUNNING ?? 8),
  servedBy: process.env.REPLICA_ID ?? 'replica',
  shutdownGraceMs: 0,
});
process.stdout.write(`${JSON.stringify({ ready: true, port: server.port })}\n`);
const quit = (): void => {
  void server.stop({ graceMs: 0 }).finally(() => process.exit(0));
};
process.stdin.resume();
process.stdin.on('end', quit);
process.on('SIGTERM', quit);
