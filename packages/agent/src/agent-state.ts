/** The life of an agent: booting → joining → ready → draining → stopped. */
export const AGENT_STATES = ['booting', 'joining', 'ready', 'draining', 'stopped'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

const ALLOWED: Record<AgentState, readonly AgentState[]> = {
  booting: ['joining', 'draining', 'stopped'],
  joining: ['ready', 'draining', 'stopped'],
  ready: ['draining', 'stopped', 'joining'],
  draining: ['stopped'],
  stopped: [],
};

export function canTransition(from: AgentState, to: AgentState): boolean {
  return ALLOWED[from].includes(to);
}
