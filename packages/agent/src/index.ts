export { Agent, peerAddressFromRecord, type AgentOptions, type AgentEvents } from './agent.ts';
export { AGENT_STATES, canTransition, type AgentState } from './agent-state.ts';
export { AgentApi, type AgentApiOptions } from './agent-api.ts';
export { MembershipView, memberSchema, membershipBaseline, isNewer, type Member, type MembershipBaseline } from './membership-view.ts';
export { swimMessageSchema, membershipUpdateSchema, type SwimMessage, type MembershipUpdate, type PeerRef } from './gossip-messages.ts';
export { SwimNode, defaultPeerRef, type SwimOptions, type Outgoing } from './swim.ts';
export { ListerElection, listDelayMs, isListDue } from './lister-election.ts';
export { Membership, type MembershipOptions } from './membership.ts';
export { PeerClient, type PeerAddress } from './peer-client.ts';
export { Replacer, handsDutyBack, replacementDuty, replacementLifecycle, type ReplacerOptions, type DutyMember } from './replacement.ts';
export {
  TAG_SLOT_CREDIT,
  DEFAULT_ON_DEMAND_CREDIT_RATE,
  moveCostMs,
  exitCostMs,
  initialSlotCreditMs,
  newSlotTags,
  parseSlotCredit,
  readSlotCredit,
  MAX_SLOT_CREDIT_MS,
  slotCreditMs,
  canAffordMove,
  successorCreditMs,
  replacementCredit,
  type SlotLedgerOptions,
} from './spot-ledger.ts';
export {
  ZoneExposure,
  zoneHazards,
  ZONE_HAZARD_MEMORY_MS,
  PRIOR_HOURS,
  type ZoneExposureOptions,
  type ExposureMember,
} from './zone-hazard.ts';
export {
  settledZones,
  poolSettled,
  lossBudget,
  lossEvents,
  errorBudget,
  allowedEvents,
  ERROR_BUDGET_WINDOW_MS,
  type ErrorBudget,
  type LossHistory,
  DEFAULT_AVAILABILITY_OBJECTIVE,
  DEFAULT_PRICE_RATIO,
  LOSS_EVENT_GAP_MS,
  type SpotHedgeOptions,
  type HedgeLoss,
} from './spot-hedge.ts';
export { NodeRuntime, workloadCommand, type NodeRuntimeOptions, type DrainReport } from './node-runtime.ts';
export {
  Autoscaler,
  decideAutoscale,
  autoscaleClientToken,
  autoscaleRole,
  type AutoscalePoolStatus,
  type AutoscaleRecord,
  type AutoscaleDecision,
} from './autoscale/index.ts';
// NoticeWatcher lives in @synkti/cloud beside the IMDS client; re-exported for existing importers.
export { NoticeWatcher, type NoticeWatcherOptions, type NoticeWatcherStatus } from '@synkti/cloud';
export { WorkloadSupervisor, type WorkloadState, type WorkloadLogger, type WorkloadSupervisorOptions } from './workload-supervisor.ts';
export { readWorkloadLoad, parseWorkloadLoad } from './workload-load.ts';
export { createRouter, ROUTER_HEALTH_PATH, type Router, type RouterOptions, type RouterPeer } from './router/router.ts';
export {
  startStandInServer,
  STAND_IN_DEFAULT_MODEL,
  STAND_IN_LATENCY_HEADER,
  STAND_IN_MAX_TOKENS_CAP,
  type StandInServer,
  type StandInServerOptions,
} from './stand-in/server.ts';
export { createLogger, type Logger } from './logger.ts';
export { readClusterSecret } from './secret.ts';
export {
  SpotReturn,
  spotReturnStep,
  spotReturnClientToken,
  spotReturnBackoffMs,
  spreadMoveStep,
  type SpreadMoveStep,
  type SpotReturnOptions,
  type SpotReturnStep,
} from './spot-return.ts';
export {
  fetchModel,
  modelDirOf,
  type FetchModelOptions,
  type FetchedModel,
  type ModelProgress,
  type ModelFetchState,
} from './model/model-fetcher.ts';
export {
  s3ModelSource,
  objectStoreModelSource,
  type ModelObjectSource,
  type ModelRead,
  type S3ModelSourceOptions,
} from './model/model-source.ts';
export { verifyModelDir, verifyModelFile, type VerifiedModelDir, type VerifyModelDirOptions } from './model/model-verify.ts';
export {
  ModelDelivery,
  modelOf,
  defaultModelsDir,
  defaultModelSource,
  WORKER_MODELS_DIR,
  type ModelDeliveryOptions,
} from './model/model-delivery.ts';
export { STAND_IN_MAIN_PATH, tsxLoaderUrl } from './stand-in/stand-in-path.ts';
