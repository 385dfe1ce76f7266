import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { AGENT_STATES, type AgentState } from './agent-state.ts';

/** The agent's Prometheus metrics, served at GET /metrics. */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly state: Gauge;
  readonly members: Gauge;
  readonly gossipRounds: Counter;
  readonly gossipFailures: Counter;
  readonly cloudListCalls: Counter;
  readonly membersLost: Counter;

  constructor(labels: { cluster: string; instance: string; role: string }) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'synkti_agent_' });
    this.state = new Gauge({ name: 'synkti_agent_state', help: '1 for the state the agent is in', labelNames: ['state'], registers: [this.registry] });
    this.members = new Gauge({ name: 'synkti_membership_members', help: 'Live members in this agent\'s view, itself included', registers: [this.registry] });
    this.gossipRounds = new Counter({ name: 'synkti_gossip_rounds_total', help: 'Gossip rounds run', registers: [this.registry] });
    this.gossipFailures = new Counter({ name: 'synkti_gossip_failures_total', help: 'Gossip exchanges that failed', registers: [this.registry] });
    this.cloudListCalls = new Counter({ name: 'synkti_cloud_list_calls_total', help: 'Instance listings sent to the cloud API by this agent', registers: [this.registry] });
    this.membersLost = new Counter({ name: 'synkti_membership_lost_total', help: 'Members dropped from the view', labelNames: ['reason'], registers: [this.registry] });
  }

  setState(current: AgentState): void {
    for (const state of AGENT_STATES) this.state.set({ state }, state === current ? 1 : 0);
  }
}
