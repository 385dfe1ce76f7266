/**
 * Child process for the queue conformance case "an ack followed by a crash": opens the
 * queue described by SYNKTI_TEST_QUEUE_CHILD (JSON: a QueueChildSpec and the queue name;
 * in the environment, not argv, since it may hold a database password), leases two
 * messages, acks the first, prints `acked <id> <true|false>` and `holds <id>`, and
 * SIGKILLs itself in the same turn: nothing the queue deferred (a batched ack, a flush
 * timer) gets a chance to run, as in a real crash.
 */
import { openQueueForChild, type QueueChildSpec } from './queue-child-spec.ts';

const raw = process.env.SYNKTI_TEST_QUEUE_CHILD;
if (!raw) throw new Error('SYNKTI_TEST_QUEUE_CHILD is not set');
const { spec, name, leaseMs } = JSON.parse(raw) as { spec: QueueChildSpec; name: string; leaseMs: number };
const queue = await openQueueForChild(spec, name);
const deadline = Date.now() + 20_000;
const messages = [];
while (messages.length < 2 && Date.now() < deadline) {
  messages.push(...(await queue.receive({ maxMessages: 2 - messages.length, leaseMs, waitMs: 1000 })));
}
if (messages.length < 2) throw new Error(`leased ${messages.length} of 2 messages within 20 s`);
const [acked, held] = messages;
const ok = await queue.ack(acked!);
// stdout to a pipe is synchronous on Linux: both lines are out before the kill.
process.stdout.write(`acked ${acked!.id} ${ok}\nholds ${held!.id}\n`);
process.kill(process.pid, 'SIGKILL');
