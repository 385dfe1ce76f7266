import type { EC2Client } from '@aws-sdk/client-ec2';
import { TAG_GENERATION, TAG_ROLE, formatDuration, type ClusterSpec } from '@synkti/core';
import type { NodeReport } from '../agent-status.ts';
import { openFleet } from '../fleet/fleet-access.ts';
import { probeNodes } from '../fleet/node-reports.ts';
import type { ChaosSettings } from '@synkti/cloud';
import { parentPids, localNodePids } from '../local-pids.ts';
import { durationText, renderTable } from '../output.ts';
import { modelNote, modelProblemLines } from '../model-status.ts';
import { autoscaleLines, autoscalePools } from './autoscale-status.ts';

export interface NodeTableOptions {
  /** Whose instances these are: on aws an agent that does not answer shows EC2's state. @default 'local' */
  kind?: 'local' | 'aws' | undefined;
}

/** The STATE column: the agent's state, else the cloud's view ('unreachable' for a running local instance). */
function stateCell(report: NodeReport, kind: 'local' | 'aws'): string {
  if (report.status) {
    // A node still fetching its model (or failing to) says so next to its state.
    const note = modelNote(report.status.model);
    return note ? `${report.status.state} (${note})` : report.status.state;
  }
  if (kind === 'aws') return `ec2:${report.record.state}`;
  return report.record.state === 'running' ? 'unreachable' : report.record.state;
}

/** The chaos line under a local fleet's table: whether random interruptions are on, how often, with what notice. */
export function describeChaos(chaos: ChaosSettings): string {
  return chaos.ratePerHour > 0
    ? `chaos: on, ${chaos.ratePerHour}/h per node (a spot interruption with ${durationText(chaos.noticeMs)} notice); \`synkti up --chaos-rate 0\` turns it off`
    : 'chaos: off';
}

export function renderNodeTable(reports: NodeReport[], options: NodeTableOptions = {}): string {
  if (reports.length === 0) return 'no nodes running (start some with `synkti up`)';
  const kind = options.kind ?? 'local';
  const rows = reports.map((report) => {
    const { record, status } = report;
    return [
      record.id,
      status?.role ?? record.tags[TAG_ROLE] ?? '-',
      stateCell(report, kind),
      status ? `${status.address}:${status.ports.agent}` : record.privateIp || '-',
      // No workload, no router: the port is configured but nothing serves there.
      status?.ports.router && status.workload ? String(status.ports.router) : '-',
      record.zone,
      status ? formatDuration(status.uptimeMs) : '-',
      status ? String(status.load) : '-',
      status ? String(status.members.length) : '-',
      // The config generation it serves (`synkti deploy` moves pools between them).
      status?.generation ?? record.tags[TAG_GENERATION] ?? '-',
    ];
  });
  const table = renderTable(['ID', 'ROLE', 'STATE', 'AGENT', 'ROUTER', 'ZONE', 'UPTIME', 'LOAD', 'MEMBERS', 'GENERATION'], rows);
  const problems = modelProblemLines(reports.map((r) => ({ id: r.record.id, model: r.status?.model })));
  const sections = [table, problems.join('\n'), autoscaleLines(autoscalePools(reports)).join('\n')].filter((s) => s.length > 0);
  return sections.join('\n\n');
}

/** One object per node; the same shape on every provider (`reachable` says whether its agent answered). */
export function reportsToJson(reports: NodeReport[]): unknown[] {
  return reports.map(({ record, status, pids, chaos }) => ({
    id: record.id,
    role: status?.role ?? record.tags[TAG_ROLE],
    instanceState: record.state,
    state: status?.state ?? 'unreachable',
    reachable: status !== undefined,
    address: record.privateIp,
    ports: status?.ports,
    zone: record.zone,
    instanceType: record.instanceType,
    lifecycle: record.lifecycle,
    launchedAt: new Date(record.launchedAt).toISOString(),
    uptimeMs: status?.uptimeMs,
    load: status?.load,
    members: status?.members.map((m) => m.id),
    generation: status?.generation ?? record.tags[TAG_GENERATION],
    desiredGenerations: status?.desiredGenerations,
    model: status?.model,
    workload: status?.workload,
    // This node's view of each autoscaled pool: current, desired, min, max, decider, last action.
    autoscale: status?.autoscale,
    pids,
    chaos,
  }));
}

export interface StatusOptions {
  /** An EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
  /** Environment for the secret lookup. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  /** How long one agent may take to answer. @default 1000 local, 1500 aws */
  agentTimeoutMs?: number | undefined;
}

export interface StatusResult {
  kind: 'local' | 'aws';
  reports: NodeReport[];
  /** Local fleets: the chaos settings (ratePerHour 0: off). */
  chaos?: ChaosSettings | undefined;
  /** False when this machine has no cluster secret, so no agent was asked. */
  agentsAsked: boolean;
}

/** `synkti status`: every live instance of the cluster (by its SynktiCluster tag) with what its agent reports. */
export async function clusterStatus(spec: ClusterSpec, configFile: string, options: StatusOptions = {}): Promise<StatusResult> {
  const fleet = openFleet(spec, { configFile, ec2Client: options.ec2Client, env: options.env });
  try {
    const records = await fleet.list();
    const reports = await probeNodes(fleet, records, { timeoutMs: options.agentTimeoutMs });
    const local = fleet.local?.cloud.instances;
    if (!local) return { kind: fleet.kind, reports, agentsAsked: fleet.secret !== undefined };
    // Local nodes are processes here: their pids, and the chaos every one of them is under.
    const chaos = local.chaos();
    const parents = parentPids();
    for (const report of reports) {
      report.pids = localNodePids(local.hostPid(report.record.id), local.instanceDir(report.record.id), parents, report.status?.pid);
      report.chaos = chaos;
    }
    return { kind: fleet.kind, reports, chaos, agentsAsked: fleet.secret !== undefined };
  } finally {
    fleet.close();
  }
}

/** The reports alone (what `synkti up` and older callers use). */
export async function status(spec: ClusterSpec, configFile: string, options: StatusOptions = {}): Promise<NodeReport[]> {
  return (await clusterStatus(spec, configFile, options)).reports;
}
