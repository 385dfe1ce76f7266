import type { InstanceRecord } from '@synkti/cloud';
import { agentUrl, fetchAgent, type LocalFleet } from './local-fleet.ts';
import type { AgentModelStatus } from './model-status.ts';

/** What an agent's GET /status answers (the fields the CLI shows). */
export interface AgentStatus {
  id: string;
  role: string;
  zone: string;
  state: string;
  address: string;
  ports: { agent: number; router: number; workload: number };
  uptimeMs: number;
  load: number;
  members: { id: string; state: string; role: string; address: string; agentPort: number; routerPort: number }[];
  workload?: { state: string } | undefined;
  /** The model fetch (absent when the cluster names no model). */
  model?: AgentModelStatus | undefined;
}

export interface NodeReport {
  record: InstanceRecord;
  status: AgentStatus | undefined;
}

/** Each instance with its agent's status (undefined where the agent does not answer). */
export async function collectNodeReports(fleet: LocalFleet, records: InstanceRecord[]): Promise<NodeReport[]> {
  return Promise.all(records.map(async (record) => ({
    record,
    status: await fetchAgent<AgentStatus>(agentUrl(record, fleet.spec.ports.agent), fleet.secret, '/status'),
  })));
}

/** True when every node is ready and all report the same membership: the expected ids. */
export function converged(reports: NodeReport[]): boolean {
  const expected = reports.map((r) => r.record.id).sort().join(',');
  return reports.length > 0 && reports.every((r) =>
    r.status?.state === 'ready' && r.status.members.map((m) => m.id).sort().join(',') === expected);
}
