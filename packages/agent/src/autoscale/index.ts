export { Autoscaler, memberLoad, type AutoscalerOptions, type AutoscalePoolStatus } from './autoscaler.ts';
export {
  decideAutoscale,
  replicasFor,
  scaleInCandidates,
  onDemandLaunches,
  type AutoscaleDecision,
  type AutoscaleDecisionInput,
  type AutoscaleMember,
  type LoadSample,
} from './autoscale-decision.ts';
export { autoscaleRecordSchema, latestRecords, isLaterRecord, MAX_AUTOSCALE_RECORDS, type AutoscaleRecord } from './autoscale-record.ts';
export { autoscaleClientToken } from './autoscale-token.ts';
export { autoscaleOrder, autoscaleRole, AUTOSCALE_RECORD_KEEPERS } from './autoscale-election.ts';
