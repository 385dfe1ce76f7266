import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TAG_CLUSTER } from '@synkti/core';
import { createImdsClient, listAllInstances, type InstanceMetadata, type InstanceRecord } from '@synkti/cloud';
import type { AgentStatusView, BatchReport, FleetSource } from '@synkti/dashboard';
import { agentUrl, fetchAgentStatus, type LocalFleet } from '../local-fleet.ts';

export interface LocalFleetSourceOptions {
  /** Batch state directory whose `runs/<run>/metrics.jsonl` files are read (the newest run shows). */
  batchDir?: string | undefined;
  /** Time limit for each agent call. @default 800 */
  agentTimeoutMs?: number;
}

/** The last line of a file, reading only its tail. */
async function lastLine(file: string, maxBytes = 64 * 1024): Promise<string | undefined> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const lines = buffer
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    return lines.at(-1);
  } finally {
    await handle.close();
  }
}

/** The newest batch run's latest metrics line under `<batchDir>/runs/`. */
export async function newestBatchReport(batchDir: string): Promise<BatchReport | undefined> {
  let runs: string[];
  try {
    runs = await readdir(join(batchDir, 'runs'));
  } catch {
    return undefined;
  }
  let newest: { run: string; file: string; mtime: number } | undefined;
  for (const run of runs) {
    const file = join(batchDir, 'runs', run, 'metrics.jsonl');
    const info = await stat(file).catch(() => undefined);
    if (info && (!newest || info.mtimeMs > newest.mtime)) newest = { run, file, mtime: info.mtimeMs };
  }
  if (!newest) return undefined;
  const line = await lastLine(newest.file);
  if (!line) return undefined;
  try {
    return { run: newest.run, metrics: JSON.parse(line) as Record<string, unknown> };
  } catch {
    return undefined; // a line being written
  }
}

/**
 * The dashboard's view of a local fleet: the local cloud's listing, the agents' APIs with
 * the cluster secret, each instance's own metadata service for its interruption notice
 * (as the instance itself sees it), and the newest batch run.
 */
export function createLocalFleetSource(fleet: LocalFleet, options: LocalFleetSourceOptions = {}): FleetSource {
  const timeoutMs = options.agentTimeoutMs ?? 800;
  const imds = new Map<string, InstanceMetadata>();
  const seen = new Set<string>();
  return {
    cluster: fleet.spec.name,
    provider: fleet.spec.provider,
    async instances(): Promise<InstanceRecord[]> {
      const all = await listAllInstances(fleet.cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
      // Agents untag themselves when they leave, before the instance ends: an instance seen
      // in the cluster stays ours; ended instances of this (per-cluster) cloud count too.
      const mine = all.filter(
        (r) => r.tags[TAG_CLUSTER] === fleet.spec.name || seen.has(r.id) || r.state === 'terminated' || r.state === 'shutting-down',
      );
      for (const r of mine) seen.add(r.id);
      for (const id of [...imds.keys()]) if (!mine.some((r) => r.id === id && r.state === 'running')) imds.delete(id);
      return mine;
    },
    status(record: InstanceRecord): Promise<AgentStatusView | undefined> {
      return fetchAgentStatus(agentUrl(record, fleet.spec.ports.agent), fleet.secret, timeoutMs);
    },
    async metrics(record: InstanceRecord): Promise<string | undefined> {
      try {
        const response = await fetch(`${agentUrl(record, fleet.spec.ports.agent)}/metrics`, {
          headers: { authorization: `Bearer ${fleet.secret}` },
          signal: AbortSignal.timeout(timeoutMs),
        });
        return response.ok ? await response.text() : undefined;
      } catch {
        return undefined;
      }
    },
    async notice(record: InstanceRecord) {
      if (record.state !== 'running') return undefined;
      let client = imds.get(record.id);
      if (!client) {
        const endpoint = fleet.cloud.metadataEndpointOf(record.id);
        if (!endpoint) return undefined;
        client = createImdsClient({ endpoint, timeoutMs: 1000, retries: 1 });
        imds.set(record.id, client);
      }
      return client.interruptionNotice();
    },
    // The registry keeps every instance's launch, notice and end: the timeline's history.
    lifeTimes: async () => fleet.cloud.instances.lifeTimes(),
    batch: options.batchDir ? () => newestBatchReport(options.batchDir!) : undefined,
    close: () => fleet.close(),
  };
}
