/** @synkti/agent/rollout: rolling updates of a pool (the plan of each step, and the loop that carries it out). */
export { planRolloutStep, type RolloutNode, type RolloutStep } from './rollout-plan.ts';
export { ReadyHysteresis } from './ready-hysteresis.ts';
export {
  runRollingUpdate,
  surgeToken,
  type RollingFleet,
  type RolloutOptions,
  type RolloutAgents,
  type RolloutResult,
} from './rolling-update.ts';
