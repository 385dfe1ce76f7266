/**
 * Entry point of an instance host process, spawned by the local provider as
 *   node --import tsx instance-host-main.ts --state-dir <dir> --id <id> [--terminate-grace-ms N] [--region R] [--namespace N]
 * See instance-host.ts for what the host does.
 */
import { parseArgs } from 'node:util';
import { InstanceHost } from './instance-host.ts';
import { startMetadataServer } from './metadata-server.ts';

const { values } = parseArgs({
  options: {
    'state-dir': { type: 'string' },
    id: { type: 'string' },
    'terminate-grace-ms': { type: 'string' },
    region: { type: 'string' },
    namespace: { type: 'string' },
  },
  strict: true,
});
const stateDir = values['state-dir'];
const id = values.id;
if (!stateDir || !id) {
  process.stderr.write('usage: instance-host-main.ts --state-dir <dir> --id <instance-id> [--terminate-grace-ms N] [--region R]\n');
  process.exit(2);
}
const grace = values['terminate-grace-ms'] === undefined ? undefined : Number(values['terminate-grace-ms']);

const host = new InstanceHost({
  stateDir,
  id,
  terminateGraceMs: grace !== undefined && Number.isFinite(grace) && grace >= 0 ? grace : undefined,
  region: values.region,
  namespace: values.namespace,
  startMetadataServer,
});
process.on('SIGTERM', () => void host.terminate());
process.on('SIGINT', () => void host.terminate());
// Detached, with no terminal: a hang-up means nothing to a machine.
process.on('SIGHUP', () => {});

try {
  await host.start();
} catch (error) {
  process.stderr.write(
    `${new Date().toISOString()} instance ${id} failed to boot: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
}
process.exit(await host.done);
