import { TAG_ROLE, formatDuration, type ClusterSpec } from '@synkti/core';
import { collectNodeReports, type NodeReport } from '../agent-status.ts';
import { clusterInstances, openLocalFleet } from '../local-fleet.ts';
import { renderTable } from '../output.ts';

export function renderNodeTable(reports: NodeReport[]): string {
  if (reports.length === 0) return 'no nodes running (start some with `synkti up`)';
  const rows = reports.map(({ record, status }) => [
    record.id,
    status?.role ?? record.tags[TAG_ROLE] ?? '-',
    status ? status.state : record.state === 'running' ? 'unreachable' : record.state,
    status ? `${status.address}:${status.ports.agent}` : record.privateIp,
    status?.ports.router ? String(status.ports.router) : '-',
    record.zone,
    status ? formatDuration(status.uptimeMs) : '-',
    status ? String(status.load) : '-',
    status ? String(status.members.length) : '-',
  ]);
  return renderTable(['ID', 'ROLE', 'STATE', 'AGENT', 'ROUTER', 'ZONE', 'UPTIME', 'LOAD', 'MEMBERS'], rows);
}

export function reportsToJson(reports: NodeReport[]): unknown[] {
  return reports.map(({ record, status }) => ({
    id: record.id,
    role: status?.role ?? record.tags[TAG_ROLE],
    instanceState: record.state,
    state: status?.state ?? 'unreachable',
    address: record.privateIp,
    ports: status?.ports,
    zone: record.zone,
    instanceType: record.instanceType,
    lifecycle: record.lifecycle,
    launchedAt: new Date(record.launchedAt).toISOString(),
    uptimeMs: status?.uptimeMs,
    load: status?.load,
    members: status?.members.map((m) => m.id),
  }));
}

/** `synkti status`: every instance of the cluster with what its agent reports. */
export async function status(spec: ClusterSpec, configFile: string): Promise<NodeReport[]> {
  const fleet = openLocalFleet(spec, configFile);
  try {
    return await collectNodeReports(fleet, await clusterInstances(fleet));
  } finally {
    fleet.close();
  }
}
