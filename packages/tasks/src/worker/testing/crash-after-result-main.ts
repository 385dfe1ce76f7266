/**
 * Child process for the worker test: works the local queue at argv[2] (queue argv[3]),
 * stores each result in the file argv[4], and dies by SIGKILL right after storing the
 * first one, before its ack: the worst moment for "work is never lost".
 */
import { openLocalQueue } from '../../queue/local-queue.ts';
import { createWorker } from '../worker.ts';
import { fileResultSink } from './file-result-sink.ts';

const [path, name, resultsFile] = process.argv.slice(2);
if (!path || !name || !resultsFile) throw new Error('usage: crash-after-result-main.ts <db> <queue> <results>');
const queue = await openLocalQueue({ path, name });
const worker = createWorker({
  queue,
  concurrency: 1,
  leaseMs: 500,
  workerId: 'doomed',
  handler: async (task) => ({ ok: true, value: `done ${task.body}` }),
  resultSink: fileResultSink(resultsFile, () => process.kill(process.pid, 'SIGKILL')),
});
worker.start();
