export {
  onDemandPolicy,
  spotSingleZonePolicy,
  spotFallbackPolicy,
  skyServePolicy,
  deadlinePolicy,
  LB_DETECTION_MS,
  RECONCILE_MS,
  type SingleZoneOptions,
  type SkyServeOptions,
  type DeadlineOptions,
} from './baseline-policies.ts';
export { synktiPolicy, SimInstanceProvider, type SynktiPolicyOptions } from './synkti-policy.ts';
export { spreadZones, spotPerZone } from './placement.ts';
