/**
 * Child process for the local queue's multi-process test: consumes queue argv[3] of the
 * SQLite file argv[2]: prints "ready" once open, then "acked <id>" for every ack the
 * queue accepted, until the queue has been empty for a second.
 */
import { openLocalQueue } from '../local-queue.ts';

const [path, name] = process.argv.slice(2);
if (!path || !name) throw new Error('usage: local-consumer-main.ts <db> <queue>');
const queue = await openLocalQueue({ path, name, pollIntervalMs: 10 });
process.stdout.write('ready\n');
let idleSince = Date.now();
while (Date.now() - idleSince < 1000) {
  const batch = await queue.receive({ maxMessages: 10, leaseMs: 30_000, waitMs: 200 });
  if (batch.length > 0) idleSince = Date.now();
  for (const message of batch) {
    await new Promise((resolve) => setTimeout(resolve, 1)); // "work", so the processes interleave
    if (await queue.ack(message)) process.stdout.write(`acked ${message.id} ${message.body}\n`);
  }
}
await queue.close();
