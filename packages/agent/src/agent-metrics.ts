import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { AGENT_STATES, type AgentState } from './agent-state.ts';

/** The agent's Prometheus metrics, served at GET /metrics. */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly state: Gauge;
  readonly members: Gauge;
  /** Membership protocol counters, read from the protocol at scrape time. */
  readonly membership: Gauge;
  readonly cloudListCalls: Gauge;
  readonly membersLost: Counter;

  constructor(labels: { cluster: string; instance: string; role: string }) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'synkti_agent_' });
    this.state = new Gauge({
      name: 'synkti_agent_state',
      help: '1 for the state the agent is in',
      labelNames: ['state'],
      registers: [this.registry],
    });
    this.members = new Gauge({
      name: 'synkti_membership_members',
      help: "Live members in this agent's view, itself included",
      registers: [this.registry],
    });
    this.membership = new Gauge({
      name: 'synkti_membership_events',
      help: 'Membership protocol events since start (pings, indirect probes, suspicions, refutations, messages sent, full syncs, undelivered messages)',
      labelNames: ['event'],
      registers: [this.registry],
    });
    this.cloudListCalls = new Gauge({
      name: 'synkti_cloud_list_calls',
      help: 'Instance listings this agent sent to the cloud API since start',
      registers: [this.registry],
    });
    this.membersLost = new Counter({
      name: 'synkti_membership_lost_total',
      help: 'Members dropped from the view',
      labelNames: ['reason'],
      registers: [this.registry],
    });
  }

  setState(current: AgentState): void {
    for (const state of AGENT_STATES) this.state.set({ state }, state === current ? 1 : 0);
  }
}
