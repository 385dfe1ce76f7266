/**
 * Test fixture run as a separate process: opens the local cloud at --state-dir (with the
 * boot command saved there), launches --count instances, prints their records as JSON
 * on one line, and exits, leaving the instances running.
 *   node --import tsx launch-from-child.ts --state-dir D --cluster C --role R [--count N] [--client-token T] [--boot-stay-alive]
 */
import { parseArgs } from 'node:util';
import { TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { createLocalCloud } from '../local-cloud.ts';
import { STAY_ALIVE_BOOT } from './temp-local-cloud.ts';

const { values } = parseArgs({
  options: {
    'state-dir': { type: 'string' },
    cluster: { type: 'string' },
    role: { type: 'string' },
    count: { type: 'string', default: '1' },
    'client-token': { type: 'string' },
    'boot-stay-alive': { type: 'boolean', default: false },
  },
});
const cloud = createLocalCloud({
  stateDir: values['state-dir']!,
  terminateGraceMs: 2000,
  bootCommand: values['boot-stay-alive'] ? STAY_ALIVE_BOOT : undefined,
});
const records = [];
for (let i = 0; i < Number(values.count); i += 1) {
  records.push(
    await cloud.instances.launch({
      tags: { [TAG_CLUSTER]: values.cluster!, [TAG_ROLE]: values.role! },
      instanceType: 'local.small',
      lifecycle: 'spot',
      clientToken: values['client-token'],
    }),
  );
}
cloud.close();
process.stdout.write(`${JSON.stringify(records)}\n`);
