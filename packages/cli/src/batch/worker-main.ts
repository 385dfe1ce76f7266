/**
 * Boot program of a local batch worker instance (its "AMI"): reads the worker config
 * from the instance's user data over IMDSv2, as an EC2 worker would, and runs the
 * worker. Lighter to start than the whole CLI.
 */
import { createImdsClient } from '@synkti/cloud';
import { isSynktiError } from '@synkti/core';
import { parseWorkerConfig, runBatchWorker } from './batch-worker.ts';

try {
  const config = parseWorkerConfig(await createImdsClient().userData());
  process.exitCode = await runBatchWorker(config);
} catch (error) {
  process.stderr.write(`batch worker: ${isSynktiError(error) ? error.toUserString() : (error as Error)?.stack ?? String(error)}\n`);
  process.exitCode = 1;
}
// Open handles (a pending long poll) must not keep a finished worker alive.
process.exit();
