import { SynktiError } from '@synkti/core';
import type { SpotHedgeOptions } from '@synkti/agent';
import type { Policy } from './policy.ts';
import {
  deadlinePolicy,
  onDemandPolicy,
  skyServePolicy,
  spotFallbackPolicy,
  spotSingleZonePolicy,
  synktiPolicy,
} from './policies/index.ts';
import { simulate, type SimulationOptions, type SimulationResult } from './simulate.ts';

/** Policy names accepted by `synkti sim --policy`. */
export const POLICY_NAMES = [
  'on-demand',
  'spot-single-zone',
  'spot-fallback',
  'skyserve',
  'deadline',
  'synkti',
  'synkti-agent-as-is',
] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export interface PolicySettings {
  /** Zone of the single-zone policies. @default the first zone */
  zone?: string;
  /** Synkti: extra replicas. @default 0 */
  synktiSpare?: number;
  /** SkyServe: over-provisioned spot replicas. @default 1 */
  skyServeOverProvision?: number;
  /** Synkti: route to draining replicas when none is ready (not in the agent's router yet). @default false */
  synktiLastResortDraining?: boolean;
  /** Deadline policy, serving: availability objective. @default 0.99 */
  availabilityObjective?: number;
  /** Synkti policies: restore ⌈N/Z⌉ per zone by moving replicas (the agent's spreadMoveStep). @default false */
  synktiSpreadMoves?: boolean;
  /** Synkti policies: the agent's spot hedge settings (simHedgeSettings). @default the world's launch delay and ratio, objective 0.99 */
  synktiHedge?: SpotHedgeOptions;
}

export function createPolicy(name: string, settings: PolicySettings = {}): Policy {
  switch (name) {
    case 'on-demand':
      return onDemandPolicy();
    case 'spot-single-zone':
      return spotSingleZonePolicy({ zone: settings.zone });
    case 'spot-fallback':
      return spotFallbackPolicy({ zone: settings.zone });
    case 'skyserve':
      return skyServePolicy({ overProvision: settings.skyServeOverProvision });
    case 'deadline':
      return deadlinePolicy({ availabilityObjective: settings.availabilityObjective });
    case 'synkti':
      return synktiPolicy({
        spare: settings.synktiSpare,
        lastResortDraining: settings.synktiLastResortDraining,
        spreadMoves: settings.synktiSpreadMoves,
        hedge: settings.synktiHedge,
      });
    case 'synkti-agent-as-is':
      return synktiPolicy({
        spare: settings.synktiSpare,
        lastResortDraining: settings.synktiLastResortDraining,
        spreadMoves: settings.synktiSpreadMoves,
        hedge: settings.synktiHedge,
        returnToSpot: false,
        name: 'synkti-agent-as-is',
      });
    default:
      throw new SynktiError('E_SIM_POLICY', `unknown policy "${name}"`, { hint: `use one of ${POLICY_NAMES.join(', ')}, or all` });
  }
}

export interface PairedResult extends SimulationResult {
  /** This policy's cost divided by the on-demand policy's in the same paired run (undefined without it). */
  costVsOnDemand: number | undefined;
}

export interface PairedRunOptions extends Omit<SimulationOptions, 'policy'> {
  policies: readonly string[];
  settings?: PolicySettings;
  /** Called after each policy's run (progress). */
  onProgress?: (done: number, total: number, result: SimulationResult) => void;
}

/**
 * Runs each policy on the same traces, seed and workload (paired runs): differences in
 * the results come from the policies alone. Cost is compared against on-demand, which is
 * always run (and reported only when asked for).
 */
export function runPaired(options: PairedRunOptions): PairedResult[] {
  const { policies, settings, onProgress, ...common } = options;
  const names = [...new Set(policies)];
  for (const name of names) createPolicy(name, settings);
  const toRun = names.includes('on-demand') ? names : ['on-demand', ...names];
  const results = new Map<string, SimulationResult>();
  toRun.forEach((name, index) => {
    const result = simulate({ ...common, policy: createPolicy(name, settings) });
    results.set(name, result);
    onProgress?.(index + 1, toRun.length, result);
  });
  const reference = results.get('on-demand')!.costUsd;
  return names.map((name) => {
    const result = results.get(name)!;
    return { ...result, costVsOnDemand: reference > 0 ? result.costUsd / reference : undefined };
  });
}
