/**
 * Each instance with what its agent says about itself, on any provider. An agent is asked
 * only when the instance is pending or running and this machine has the cluster secret; one that does
 * not answer in time is shown with the cloud's view alone.
 */
import type { InstanceRecord } from '@synkti/cloud';
import type { NodeReport } from '../agent-status.ts';
import { agentUrl, fetchAgentStatus } from '../local-fleet.ts';
import type { FleetAccess } from './fleet-access.ts';

export interface ProbeOptions {
  /** How long one agent may take to answer. @default 1000 (local), 1500 (aws) */
  timeoutMs?: number | undefined;
}

export async function probeNodes(
  fleet: Pick<FleetAccess, 'spec' | 'secret' | 'kind'>,
  records: InstanceRecord[],
  options: ProbeOptions = {},
): Promise<NodeReport[]> {
  const timeoutMs = options.timeoutMs ?? (fleet.kind === 'local' ? 1000 : 1500);
  const secret = fleet.secret;
  return Promise.all(
    records.map(async (record) => ({
      record,
      status:
        secret !== undefined && (record.state === 'running' || record.state === 'pending') && record.privateIp
          ? await fetchAgentStatus(agentUrl(record, fleet.spec.ports.agent), secret, timeoutMs)
          : undefined,
    })),
  );
}
