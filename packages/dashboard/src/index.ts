export { DashboardServer, type DashboardServerOptions } from './dashboard-server.ts';
export { DashboardHandler, DASHBOARD_ASSETS_DIR, type DashboardHandlerOptions } from './dashboard-handler.ts';
export { FleetAggregator, type FleetAggregatorOptions, type FleetAggregatorEvents } from './fleet-aggregator.ts';
export type { FleetSource, AgentStatusView, BatchReport, InstanceLifeTimes } from './fleet-source.ts';
export { TimelineTracker, isLiveInstance, type NodeObservation } from './timeline.ts';
export { TrafficWindow, type TrafficWindowOptions } from './traffic-window.ts';
export { parsePrometheusText, routerCounters, histogramQuantile, type PromSample, type RouterCounters } from './prometheus-text.ts';
export { DASHBOARD_PRICES, costRate, type InstancePrice, type CostRate } from './price-table.ts';
export type {
  DashboardSnapshot,
  DashboardNode,
  TimelineEvent,
  TimelineKind,
  TrafficStats,
  BatchStats,
  PipelineStats,
  CostStats,
} from './snapshot.ts';
