import { TAG_CLUSTER, TAG_PORT_AGENT, TAG_REPLACES } from '@synkti/core';
import { listAllInstances, type InstanceRecord } from '@synkti/cloud';
import { fetchAgentStatus, type LocalFleet } from './local-fleet.ts';

interface MemberView {
  id: string;
  state: string;
  address: string;
  routerPort: number;
}

/**
 * Watches a running local fleet the way a load balancer and an operator would: which
 * routers are up (from the agents' shared membership) and how many nodes are ready.
 */
export class FleetObserver {
  private readonly fleet: LocalFleet;
  private members: MemberView[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(fleet: LocalFleet) {
    this.fleet = fleet;
  }

  async start(intervalMs = 500): Promise<void> {
    this.running = true;
    await this.refresh();
    const tick = (): void => {
      void this.refresh().finally(() => {
        if (this.running) this.timer = setTimeout(tick, intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, intervalMs).unref();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Router URLs of the nodes currently in the membership and ready. */
  routerUrls(): string[] {
    return this.members.filter((m) => m.state === 'ready').map((m) => `http://${m.address}:${m.routerPort}`);
  }

  readyCount(): number {
    return this.members.filter((m) => m.state === 'ready').length;
  }

  async instances(): Promise<InstanceRecord[]> {
    return listAllInstances(this.fleet.cloud.instances, {
      tags: { [TAG_CLUSTER]: this.fleet.spec.name },
      states: ['pending', 'running', 'shutting-down'],
    });
  }

  /** Replacement instances ever launched in this cluster (tagged SynktiReplaces at launch). */
  async replacements(): Promise<InstanceRecord[]> {
    const all = await listAllInstances(this.fleet.cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
    return all.filter((r) => r.tags[TAG_REPLACES] !== undefined || this.replacedIds.has(r.id));
  }

  private readonly replacedIds = new Set<string>();

  private async refresh(): Promise<void> {
    let records: InstanceRecord[];
    try {
      records = await this.instances();
    } catch {
      return;
    }
    for (const r of records) if (r.tags[TAG_REPLACES]) this.replacedIds.add(r.id);
    // Ask agents until one answers: any member's view is the fleet's view.
    const union = new Map<string, MemberView>();
    const statuses = await Promise.all(
      records.map((r) =>
        fetchAgentStatus(`http://${r.privateIp}:${r.tags[TAG_PORT_AGENT] ?? this.fleet.spec.ports.agent}`, this.fleet.secret, 800),
      ),
    );
    for (const status of statuses) {
      if (!status) continue;
      // Each node is the authority on its own state; others' views fill in the rest.
      for (const m of status.members) if (!union.has(m.id)) union.set(m.id, m);
      const self = status.members.find((m) => m.id === status.id);
      if (self) union.set(status.id, { ...self, state: status.state });
    }
    const live = new Set(records.map((r) => r.id));
    this.members = [...union.values()].filter((m) => live.has(m.id));
  }
}
