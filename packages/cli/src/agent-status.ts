import type { InstanceRecord } from '@synkti/cloud';
import { agentUrl, fetchAgentStatus, type LocalFleet } from './local-fleet.ts';
import type { AgentStatus as ContractAgentStatus } from '@synkti/core/contracts';

/** What the CLI shows of an agent's GET /status (read with fetchAgentStatus: parsed against @synkti/core/contracts, never cast). */
export type AgentStatus = Pick<ContractAgentStatus, 'id' | 'role' | 'zone' | 'state' | 'address' | 'ports' | 'uptimeMs' | 'load' | 'members' | 'workload' | 'model'>;

export interface NodeReport {
  record: InstanceRecord;
  status: AgentStatus | undefined;
}

/** Each instance with its agent's status (undefined where the agent does not answer). */
export async function collectNodeReports(fleet: LocalFleet, records: InstanceRecord[]): Promise<NodeReport[]> {
  return Promise.all(records.map(async (record) => ({
    record,
    status: await fetchAgentStatus(agentUrl(record, fleet.spec.ports.agent), fleet.secret),
  })));
}

/** True when every node is ready and all report the same membership: the expected ids. */
export function converged(reports: NodeReport[]): boolean {
  const expected = reports.map((r) => r.record.id).sort().join(',');
  return reports.length > 0 && reports.every((r) =>
    r.status?.state === 'ready' && r.status.members.map((m) => m.id).sort().join(',') === expected);
}
