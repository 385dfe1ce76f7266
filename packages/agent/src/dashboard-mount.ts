/**
 * The fleet dashboard on every agent's port, at /dashboard/ (issue 10: "also served by
 * every agent behind the cluster secret"). An operator opens any node's agent port and
 * sees the whole fleet: the node aggregates through its peers (from its membership view,
 * asking their agent APIs with the cluster secret, a bounded number at a time), never
 * through the cloud's API (invariant 3: listing stays the listers' job).
 *
 * Cheap for the agent: @synkti/dashboard is imported on the first /dashboard request,
 * and the fleet is looked at only while someone watches (an open stream, or a request
 * within `idleStopMs`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TAG_CLUSTER, TAG_PORT_AGENT, TAG_REPLACES, TAG_ROLE } from '@synkti/core';
import { parseAgentStatus } from '@synkti/core/contracts';
import type { InstanceRecord, InterruptionNotice } from '@synkti/cloud';
import type { AgentStatusView, DashboardHandler, FleetAggregator, FleetSource, PipelineStats } from '@synkti/dashboard';
import type { Member } from './membership-view.ts';

/** Where the dashboard is on the agent port. */
export const DASHBOARD_PATH = '/dashboard';

/** EC2's state reasons, as the dashboard's timeline reads them. */
const REASON_SPOT = 'Server.SpotInstanceTermination';
const REASON_LOST = 'Server.InternalError';
const REASON_LEFT = 'Client.UserInitiatedShutdown';
/** How long a member that left stays listed as ended (so the timeline reports it once). */
const DEPARTED_KEEP_MS = 10 * 60_000;

export interface AgentDashboardOptions {
  /** Serve the dashboard at /dashboard/ on the agent port. @default true */
  enabled?: boolean;
  /** Provider name shown on the page. @default 'unknown' */
  provider?: string;
  /** Instance type and lifecycle per role (the cluster's pools), for the cost rate. @default none (shown unpriced) */
  pools?: Record<string, { instanceType: string; lifecycle: string }>;
  /** Pipeline jobs by state, when the process that starts the agent knows a pipeline task database. @default none */
  pipelines?: () => Promise<PipelineStats | undefined>;
  /** Time between two looks at the fleet while someone watches. @default 1000 */
  intervalMs?: number;
  /** Looking stops this long after the last request when no stream is open. @default 60000 */
  idleStopMs?: number;
  /** Time limit of each call to a peer's agent API. @default 800 */
  peerTimeoutMs?: number;
  /** Peers asked at once. @default 16 */
  concurrency?: number;
}

/** What the mount needs from its agent. */
export interface DashboardAgentView {
  readonly selfId: string | undefined;
  members(): Member[];
  status(): AgentStatusView;
  metricsText(): Promise<string | undefined>;
  /** Calls `listener` with a member's last known entry when it leaves the view (state 'stopped': it left). */
  onMemberLost(listener: (member: Member) => void): void;
}

export interface AgentDashboardMountOptions extends AgentDashboardOptions {
  cluster: string;
  /** The cluster secret: peers are asked with it, and the dashboard asks for it (never logged). */
  secret: string;
  agent: DashboardAgentView;
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * The fleet as this agent knows it: its membership view for the instances (members that
 * left stay listed as ended for a while: preempted when they had a notice, lost when they
 * vanished without leaving), its peers' /status and /metrics for the rest.
 */
export function membershipFleetSource(options: AgentDashboardMountOptions): FleetSource {
  const { agent, secret, cluster } = options;
  const timeoutMs = options.peerTimeoutMs ?? 800;
  const known = new Map<string, Member>();
  const departed = new Map<string, { record: InstanceRecord; at: number }>();
  // How each member left, as membership saw it (a leave may go unseen between two looks).
  const lost = new Map<string, { member: Member; at: number }>();
  agent.onMemberLost((member) => {
    const now = Date.now();
    lost.set(member.id, { member, at: now });
    for (const [id, l] of lost) if (now - l.at > DEPARTED_KEEP_MS) lost.delete(id);
  });
  const endReason = (m: Member): string =>
    m.noticeDeadline !== undefined ? REASON_SPOT : m.state === 'stopped' ? REASON_LEFT : REASON_LOST;
  const toRecord = (m: Member, state: InstanceRecord['state'] = 'running', stateReason?: string): InstanceRecord => {
    const pool = options.pools?.[m.role];
    return {
      id: m.id,
      state,
      stateReason,
      privateIp: m.address,
      instanceType: pool?.instanceType ?? 'unknown',
      zone: m.zone,
      lifecycle: pool?.lifecycle === 'spot' ? 'spot' : 'on-demand',
      launchedAt: m.incarnation,
      tags: {
        [TAG_CLUSTER]: cluster,
        [TAG_ROLE]: m.role,
        [TAG_PORT_AGENT]: String(m.agentPort),
        ...(m.replaces ? { [TAG_REPLACES]: m.replaces } : {}),
      },
    };
  };
  const ask = async (record: InstanceRecord, path: string): Promise<Response | undefined> => {
    const m = known.get(record.id);
    if (!m) return undefined;
    try {
      const response = await fetch(`http://${hostForUrl(m.address)}:${m.agentPort}${path}`, {
        headers: { authorization: `Bearer ${secret}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
      return response.ok ? response : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    cluster,
    provider: options.provider ?? 'unknown',
    async instances(): Promise<InstanceRecord[]> {
      const now = Date.now();
      const members = agent.members();
      const live = new Set(members.map((m) => m.id));
      for (const [id, m] of known) {
        if (live.has(id)) continue;
        known.delete(id);
        const last = lost.get(id)?.member ?? m;
        departed.set(id, { record: toRecord(last, 'terminated', endReason(last)), at: now });
      }
      for (const m of members) known.set(m.id, m);
      for (const [id, d] of departed) if (live.has(id) || now - d.at > DEPARTED_KEEP_MS) departed.delete(id);
      return [
        ...members.map((m) => (m.state === 'stopped' ? toRecord(m, 'terminated', endReason(m)) : toRecord(m))),
        ...[...departed.values()].map((d) => d.record),
      ];
    },
    async status(record): Promise<AgentStatusView | undefined> {
      if (record.id === agent.selfId) return agent.status();
      const response = await ask(record, '/status');
      // A peer's body is hostile input: parsed against the contract (bounded), never cast.
      return response ? parseAgentStatus(await response.json().catch(() => undefined)) : undefined;
    },
    async metrics(record): Promise<string | undefined> {
      if (record.id === agent.selfId) return agent.metricsText();
      return (await ask(record, '/metrics'))?.text();
    },
    async notice(record): Promise<InterruptionNotice | null> {
      const deadline = known.get(record.id)?.noticeDeadline;
      return deadline === undefined ? null : { action: 'terminate', time: deadline };
    },
    pipelines: options.pipelines,
  };
}

/**
 * Mounted on the agent API ahead of its Bearer check (the page signs in with a cookie):
 * the dashboard's own handler checks every request — session cookie from the sign-in
 * form or a one-time link, or the Bearer cluster secret — and answers 401 otherwise.
 */
export class AgentDashboardMount {
  private readonly options: AgentDashboardMountOptions;
  private loading: Promise<{ handler: DashboardHandler; aggregator: FleetAggregator }> | undefined;
  private watching: Promise<void> | undefined;
  private lastRequestAt = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private readonly source: FleetSource;

  constructor(options: AgentDashboardMountOptions) {
    this.options = options;
    // Created now (not on first request) so it hears every member loss from the start.
    this.source = membershipFleetSource(options);
  }

  owns(pathname: string): boolean {
    return pathname === DASHBOARD_PATH || pathname.startsWith(`${DASHBOARD_PATH}/`);
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (this.stopped) {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' }).end('the agent is stopping\n');
      return;
    }
    const { handler, aggregator } = await this.load();
    this.lastRequestAt = Date.now();
    this.watching ??= aggregator.start();
    await this.watching;
    await handler.handle(req, res, url);
  }

  /** Is the fleet being looked at (someone watched within idleStopMs)? */
  get watched(): boolean {
    return this.watching !== undefined;
  }

  /** Stops looking at the fleet and ends open streams. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    void this.loading?.then(({ handler, aggregator }) => {
      aggregator.stop();
      handler.close();
    });
  }

  private load(): Promise<{ handler: DashboardHandler; aggregator: FleetAggregator }> {
    this.loading ??= (async () => {
      const { DashboardHandler, FleetAggregator } = await import('@synkti/dashboard');
      const o = this.options;
      const aggregator = new FleetAggregator({ source: this.source, intervalMs: o.intervalMs ?? 1000, concurrency: o.concurrency ?? 16 });
      const handler = new DashboardHandler({
        aggregator,
        secret: o.secret,
        basePath: DASHBOARD_PATH,
        secretForm: true,
        signInHint: 'sign in with the cluster secret',
      });
      const idleStopMs = o.idleStopMs ?? 60_000;
      this.idleTimer = setInterval(
        () => {
          if (this.watching && handler.streamCount === 0 && Date.now() - this.lastRequestAt > idleStopMs) {
            aggregator.stop();
            this.watching = undefined;
          }
        },
        Math.max(250, idleStopMs / 4),
      ).unref();
      return { handler, aggregator };
    })();
    return this.loading;
  }
}
