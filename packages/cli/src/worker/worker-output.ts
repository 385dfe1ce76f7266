/** How `synkti worker` shows instances: a table for people, JSON for scripts. */
import { TAG_ROLE, formatDuration } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import { renderTable } from '../output.ts';

export function renderWorkerTable(records: InstanceRecord[], now = Date.now()): string {
  if (records.length === 0) return 'no instances (launch some with `synkti worker launch`)';
  return renderTable(
    ['ID', 'ROLE', 'STATE', 'TYPE', 'LIFECYCLE', 'ZONE', 'ADDRESS', 'AGE'],
    records.map((r) => [
      r.id,
      r.tags[TAG_ROLE] ?? '-',
      r.stateReason && r.state === 'terminated' ? `${r.state} (${r.stateReason})` : r.state,
      r.instanceType,
      r.lifecycle,
      r.zone,
      r.privateIp || '-',
      formatDuration(Math.max(0, now - r.launchedAt)),
    ]),
  );
}

export function workersToJson(records: InstanceRecord[]): unknown[] {
  return records.map((r) => ({
    id: r.id,
    role: r.tags[TAG_ROLE] ?? null,
    state: r.state,
    stateReason: r.stateReason ?? null,
    instanceType: r.instanceType,
    lifecycle: r.lifecycle,
    zone: r.zone,
    privateIp: r.privateIp,
    launchedAt: new Date(r.launchedAt).toISOString(),
    tags: r.tags,
  }));
}
