import type { ClusterSpec } from '@synkti/core';
import { TAG_REPLACES } from '@synkti/core';
import type { InstanceMetadata, InstanceProvider, InstanceRecord, InterruptionNotice } from '@synkti/cloud';
import { LOSS_MEMORY_MS } from '@synkti/cloud';
import type { Agent } from './agent.ts';
import type { Logger } from './logger.ts';
import { NoticeWatcher } from '@synkti/cloud';
import { Replacer } from './replacement.ts';
import { SpotReturn } from './spot-return.ts';
import { TAG_SLOT_CREDIT, readSlotCredit, slotCreditMs } from './spot-ledger.ts';
import { ZoneExposure, type ZoneLoss } from './zone-hazard.ts';
import type { LossHistory } from './spot-hedge.ts';
import { createRouter, type Router, type RouterPeer } from './router/router.ts';
import { WorkloadSupervisor, type WorkloadState } from './workload-supervisor.ts';
import { readWorkloadLoad } from './workload-load.ts';
import { scrapeEngineLoad, type EngineLoad } from './router/engine-load.ts';
import { DrainSteps } from './drain-steps.ts';
import { Autoscaler } from './autoscale/autoscaler.ts';
import { RequestRate, counterTotal } from './autoscale/request-rate.ts';
import { ModelDelivery, defaultModelSource, defaultModelsDir, modelOf } from './model/model-delivery.ts';
import type { ModelObjectSource } from './model/model-source.ts';
import { STAND_IN_MAIN_PATH, tsxLoaderUrl } from './stand-in/stand-in-path.ts';
import type { LoadBalancerFactory, LoadBalancerMember } from './load-balancer/load-balancer-member.ts';
import type { LoadBalancerExit } from './load-balancer/load-balancer-targets.ts';

export interface NodeRuntimeOptions {
  agent: Agent;
  spec: ClusterSpec;
  metadata: InstanceMetadata;
  instances: InstanceProvider;
  /** The user data this node booted with: replacements boot with the same. */
  userData: string;
  logger: Logger;
  /** Where the workload's output goes. @default none */
  workloadLogFile?: string | undefined;
  /** The workload's ownership record (see workload-pid-file.ts): an orphan of a killed agent is ended before the workload starts. @default none */
  workloadPidFile?: string | undefined;
  /** How often an on-demand fallback in a spot pool looks for spot capacity again. @default 5 minutes */
  spotReturnIntervalMs?: number;
  /** Autoscaling (pools with `autoscale`): how often load is sampled and decided on, and how long launches may take to join. @default { intervalMs: 1000, convergeMs: 180000 } */
  autoscale?: { intervalMs?: number | undefined; convergeMs?: number | undefined } | undefined;
  /**
   * Where the cluster's model is fetched to and read from.
   * @default SYNKTI_MODELS_DIR, else the instance's directory (local) or /var/lib/synkti/models (aws); read from S3 (aws) or the local object store
   */
  model?: { modelsDir?: string | undefined; source?: ModelObjectSource | undefined; retryDelayMs?: number | undefined } | undefined;
  clock?: () => number;
  /**
   * The load balancer in front of the routers (AWS only), built once the node has booted:
   * left at t=0 of every drain, joined once ready. @default none (no load balancer)
   */
  loadBalancer?: LoadBalancerFactory | undefined;
}

/** A client connection left idle this long during a drain is closed; a router this quiet counts as idle. */
const DRAIN_IDLE_CLOSE_MS = 1000;
/** How often a node reads its own engine's load for the gossip. */
const ENGINE_SCRAPE_MS = 1000;

export interface DrainReport {
  /** A spot notice, a SIGTERM, or an on-demand fallback handing over to its spot successor. */
  reason: 'interruption' | 'shutdown' | 'spot-return';
  startedAt: number;
  deadline: number;
  budgetMs: number;
  /** When the router stopped taking new requests: one `maxStreamDuration` before the end of the budget, but not before `balancerGrace` (nor after the budget). */
  cutoffAt: number;
  /**
   * Requests cut when the budget ran out: the router's own (cut by its stop) plus those the
   * workload still held when it was stopped (other routers retry them if no byte was sent).
   * 0 unless a stream outlived the notice.
   */
  leftInFlight: number;
  tookMs: number;
  replacement?: string | undefined;
  /** Drain steps that threw (logged; the drain went on and the node still left). Absent when none did. */
  failedSteps?: string[] | undefined;
}

/**
 * The workload command with this node's values: `{port}` the workload port, `{host}` the
 * address peers reach it on (the node's private IP: bound there, never 0.0.0.0),
 * `{modelPath}` the fetched model's directory, and for the stand-in preset `{node}`,
 * `{tsx}` and `{standIn}` (resolved from the agent package, so an installed agent finds them).
 */
export function workloadCommand(command: string[], port: number, modelPath?: string, host = '127.0.0.1'): string[] {
  const values: Record<string, () => string> = {
    '{port}': () => String(port),
    '{host}': () => host,
    '{node}': () => process.execPath,
    '{tsx}': tsxLoaderUrl,
    '{standIn}': () => STAND_IN_MAIN_PATH,
    ...(modelPath === undefined ? {} : { '{modelPath}': () => modelPath }),
  };
  return command.map((arg) => arg.replace(/\{(port|host|node|tsx|standIn|modelPath)\}/g, (token) => values[token]?.() ?? token));
}

/**
 * Everything a node does besides membership: serve (workload + router), watch for the
 * interruption notice and drain inside its deadline, launch its own replacement at the
 * notice, and replace peers that vanish without one.
 */
export class NodeRuntime {
  private readonly options: NodeRuntimeOptions;
  private readonly clock: () => number;
  private supervisor: WorkloadSupervisor | undefined;
  private router: Router | undefined;
  private watcher: NoticeWatcher | undefined;
  private replacer: Replacer | undefined;
  private spotReturn: SpotReturn | undefined;
  private autoscaler: Autoscaler | undefined;
  private requestRate: RequestRate | undefined;
  private draining: Promise<DrainReport> | undefined;
  lastDrain: DrainReport | undefined;
  private modelDelivery: ModelDelivery | undefined;
  private loadBalancer: LoadBalancerMember | undefined;
  /** The load balancer exit started at t=0 of the drain (undefined: no load balancer, or no drain yet). */
  leavingLoadBalancer: Promise<LoadBalancerExit> | undefined;

  constructor(options: NodeRuntimeOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  private get agent(): Agent {
    return this.options.agent;
  }

  /** This instance's cloud record (lifecycle, launch time), read once at start in a spot pool. */
  private selfRecord: Promise<InstanceRecord | undefined> | undefined;
  private selfRecordRead: InstanceRecord | undefined;
  /** When this node first served (its slot's spot savings count from then). */
  private readyAt: number | undefined;
  private readonly startedAt = Date.now();
  /** Its own slot-credit tag, read (and a rejected one logged) once. */
  private ownCreditTag: { creditMs: number } | undefined;

  /**
   * This node's slot credit now (spot-ledger.ts), as the simulator computes it: its launch tag
   * as the cloud's record of this instance carries it (instance-metadata tags: never a
   * peer's word; readSlotCredit bounds it), plus what it saved serving on spot since it was
   * ready. The Replacer tags the replacement it launches at this node's notice with it, so
   * the slot's credit carries forward. Undefined outside a spot pool (no ledger there).
   */
  slotCredit(): number | undefined {
    const { agent, spec, logger } = this.options;
    const pool = spec.pools[agent.role];
    if (!pool || pool.lifecycle !== 'spot') return undefined;
    const hedge = pool.spotHedge ?? {};
    if (!this.ownCreditTag) {
      const read = readSlotCredit(agent.tags[TAG_SLOT_CREDIT], hedge);
      // The value is not logged: it is whatever the tag's writer chose.
      if (read.rejected)
        logger.warn(
          { tag: TAG_SLOT_CREDIT, why: read.rejected },
          "this node's slot-credit tag is not one an agent writes; its slot counts zero credit",
        );
      this.ownCreditTag = { creditMs: read.creditMs };
    }
    const record = this.selfRecordRead;
    return slotCreditMs({
      tagCreditMs: this.ownCreditTag.creditMs,
      // Unknown until the boot's one lookup answers: a notice comes only to a spot instance.
      lifecycle: record?.lifecycle ?? 'spot',
      launchedAt: record?.launchedAt ?? this.startedAt,
      readyAt: this.readyAt,
      now: this.clock(),
      ...hedge,
    });
  }

  /**
   * The pool's exposure per zone and the losses this node saw over a week (zone-hazard.ts):
   * placement's zone tiers read the week, placement's loss counts and the spot hedge the
   * last LOSS_MEMORY_MS (zoneLosses).
   */
  private readonly zoneExposure = new ZoneExposure();
  private readonly zoneLosses = (): ZoneLoss[] => this.zoneExposure.recentLosses(this.clock(), LOSS_MEMORY_MS);
  /** The week of losses and shortfall the spot hedge's error budget reads (spot-hedge.ts errorBudget). */
  private readonly lossHistory = (): LossHistory => this.zoneExposure.lossHistory(this.clock());
  private exposureTimer: NodeJS.Timeout | undefined;

  /** `serving`: the member had joined (a successor lost while booting took no replica away; the spot hedge skips it). */
  private noteZoneLoss(zone: string, serving: boolean): void {
    // Any loss is evidence about the zone's rate, booting or serving.
    this.zoneExposure.lost(zone, this.clock(), serving);
  }

  /** The ready peers the router may send to (every serving node, itself included). */
  readyPeers(): RouterPeer[] {
    const membership = this.agent.membership;
    const view = membership?.view;
    if (!view) return [];
    return (
      view
        .members()
        // Only members whose identity is proven and that the cloud's listing does not contradict (issue 17).
        .filter((m) => m.state === 'ready' && membership.isRoutable(m.id))
        .map((m) => ({
          id: m.id,
          baseUrl: `http://${m.address.includes(':') ? `[${m.address}]` : m.address}:${m.workloadPort}`,
          engine: m.engine,
        }))
    );
  }

  async start(): Promise<void> {
    const { agent, spec, logger } = this.options;
    await agent.boot();
    const selfId = agent.identity!.instanceId;
    this.joinLoadBalancerWhenReady();
    const ownPool = spec.pools[agent.role];
    if (ownPool?.lifecycle === 'spot') {
      // One lookup at boot, shared by SpotReturn (is this node an on-demand fallback?) and the ledger.
      this.selfRecord = this.options.instances.list({ ids: [selfId] }).then((page) => page.items.find((r) => r.id === selfId));
      this.selfRecord.then(
        (record) => {
          this.selfRecordRead = record;
        },
        () => {},
      );
    }
    const onReady = (state: string): void => {
      if (state !== 'ready') return;
      this.readyAt ??= this.clock();
      agent.off('state', onReady);
    };
    agent.on('state', onReady);

    this.replacer = new Replacer({
      cluster: spec.name,
      instances: this.options.instances,
      selfId,
      liveMembers: () => agent.view.members(),
      templateFor: (role) => {
        const pool = spec.pools[role];
        // zones: replacements are placed by the spread rule over the pool's zones (placementZoneOrder).
        // A rollout under way (`synkti deploy`) set the pool's desired config: replacements boot with it, not with ours.
        const userData = agent.desiredConfigs.get(role)?.userData ?? this.options.userData;
        return (
          pool && { role, instanceType: pool.instanceType, lifecycle: pool.lifecycle, userData, zones: pool.zones, hedge: pool.spotHedge }
        );
      },
      recheckMs: Math.max(1000, spec.timeouts.failureTimeoutMs),
      logger,
      recentLosses: this.zoneLosses,
      lossHistory: this.lossHistory,
      clock: this.clock,
      // The slot ledger: the replacement at this node's notice carries its credit forward.
      slotCredit: (id) => (id === selfId ? this.slotCredit() : undefined),
      zoneHazard: (zones, now) => this.zoneExposure.hazards(zones, now),
    });
    // Exposure: where the pool's members run, once a minute (a map over the view: cheap). With
    // a fixed count, also the time the pool had fewer ready: the spot hedge's error budget
    // reads it (an autoscaled pool's target moves: its budget estimates from the losses).
    const target = ownPool && !ownPool.autoscale ? ownPool.count : undefined;
    this.zoneExposure.observe(this.clock(), agent.view.members(), agent.role, target);
    this.exposureTimer = setInterval(() => this.zoneExposure.observe(this.clock(), agent.view.members(), agent.role, target), 60_000);
    this.exposureTimer.unref();
    agent.on('memberLost', (member) => {
      // Preempted (it had a notice) or lost: its zone is tried last for a while (placementZoneOrder).
      if (member.noticeDeadline !== undefined || member.state !== 'stopped')
        this.noteZoneLoss(member.zone, member.state !== 'joining' && member.state !== 'booting');
      // A graceful leave (scale-down, `synkti down`, a finished drain) is not a loss; a
      // preempted node that left is checked: its own launch at the notice may have found no
      // capacity (the Replacer finds the replacement it launched, or retries).
      if (member.state !== 'stopped' || member.noticeDeadline !== undefined) this.replacer?.peerLost(member.id, member.role);
      // Lost, not left: its address may just drop packets, so the router stops waiting on it
      // (requests not yet answered go elsewhere, streams under way are cut). A node that left
      // gracefully finished its streams first.
      if (member.state !== 'stopped') this.router?.peerLost(member.id);
    });
    // A lost peer that came back is no longer searched for (its timer stops at once).
    agent.on('memberJoined', (member) => this.replacer?.peerBack(member.id));
    if (agent.tags[TAG_REPLACES]) agent.view.updateSelf({ replaces: agent.tags[TAG_REPLACES] });
    if (Autoscaler.enabled(spec)) {
      // Every node samples the load; the pool's rendezvous-chosen decider acts (autoscale/).
      this.autoscaler = new Autoscaler({
        spec,
        selfId,
        instances: this.options.instances,
        logger,
        members: () => {
          // Our own load as of now: it is refreshed only when a message is sent, never when alone.
          agent.view.setSelfLoad(agent.load(), agent.engineLoad(), agent.requestRate());
          return agent.view.members();
        },
        // Scale-outs boot the pool's desired config when a rollout set one, like replacements.
        userDataFor: (role) => agent.desiredConfigs.get(role)?.userData ?? this.options.userData,
        publish: (records) => {
          agent.view.updateSelf({ autoscale: records.length > 0 ? records : undefined });
          void agent.membership?.announce();
        },
        // Scale-outs avoid zones that lost nodes recently, as replacements do (placementZoneOrder).
        recentLosses: this.zoneLosses,
        intervalMs: this.options.autoscale?.intervalMs,
        convergeMs: this.options.autoscale?.convergeMs,
        clock: this.clock,
      });
      this.autoscaler.start();
    }

    const pool = spec.pools[agent.role];
    if (pool && pool.lifecycle === 'spot') {
      this.spotReturn = new SpotReturn({
        cluster: spec.name,
        role: agent.role,
        selfId,
        instances: this.options.instances,
        pool: { lifecycle: pool.lifecycle, onDemandBase: pool.onDemandBase, instanceType: pool.instanceType },
        // The successor boots the pool's desired config when a rollout set one, like replacements.
        userData: () => agent.desiredConfigs.get(agent.role)?.userData ?? this.options.userData,
        zones: pool.zones,
        recentLosses: this.zoneLosses,
        lossHistory: this.lossHistory,
        zoneHazard: (zones, now) => this.zoneExposure.hazards(zones, now),
        liveMembers: () => agent.view.members(),
        handOver: async () => {
          await this.drain('spot-return', this.clock() + spec.timeouts.shutdownGraceMs);
          // Nobody else ends an on-demand instance: it would run (and bill) forever.
          await this.options.instances.terminate([selfId]);
        },
        intervalMs: this.options.spotReturnIntervalMs,
        // The config's pools.<role>.spotHedge (absent: the hedge's defaults).
        hedge: pool.spotHedge,
        logger,
        selfRecord: this.selfRecord && (() => this.selfRecord!),
      });
      void this.spotReturn.start();
    }

    this.watcher = new NoticeWatcher({
      metadata: this.options.metadata,
      pollIntervalMs: spec.timeouts.noticePollIntervalMs,
      onInterruption: (notice) => {
        void this.drainForNotice(notice);
      },
      onRebalance: async () => {
        if (!spec.serve.replaceOnRebalance) return;
        logger.info('rebalance recommendation: launching the replacement early, still serving');
        await this.replacer?.replaceSelf(agent.role);
      },
      onError: (error) => logger.warn({ err: error }, 'instance metadata unavailable; no notice assumed, still polling'),
    });
    this.watcher.start();
    // A notice may already be up (an agent restarted mid-drain): look at once.
    await this.watcher.pollOnce();

    agent.statusExtras = () => ({
      workload: this.supervisor ? { state: this.supervisor.state, restarts: this.supervisor.restarts } : undefined,
      router: this.router ? { inFlight: this.router.inFlight() } : undefined,
      drain: this.lastDrain,
      model: this.modelDelivery?.progress,
      autoscale: this.autoscaler?.status(),
    });

    // The model first: no workload and no readiness until every file is in place and checked.
    const model = modelOf(spec);
    let modelPath: string | undefined;
    if (model) {
      const delivery = new ModelDelivery({
        model,
        modelsDir: this.options.model?.modelsDir ?? defaultModelsDir(spec, selfId),
        source: this.options.model?.source ?? defaultModelSource(spec, model),
        retryDelayAfterFailureMs: this.options.model?.retryDelayMs,
        logger,
        onError: (error) =>
          logger.error(
            { err: error, uri: model.uri },
            'model fetch failed: the node stays not ready, its workload not started; trying again later',
          ),
      });
      this.modelDelivery = delivery;
      // A drain or shutdown while the model arrives: stop fetching and start nothing.
      const stopOnLeave = (state: string): void => {
        if (state === 'draining' || state === 'stopped') delivery.stop();
      };
      agent.on('state', stopOnLeave);
      modelPath = await delivery.ready();
      agent.off('state', stopOnLeave);
      if (modelPath === undefined || this.draining) return;
    }

    if (!spec.workload) {
      if (!this.draining) await agent.markReady();
      return;
    }
    const workload = spec.workload;
    if (workload.kind === 'portless') {
      // A batch worker: no port, no router; ready while its process runs, SIGTERM on a notice (drain).
      this.supervisor = new WorkloadSupervisor({
        command: workloadCommand(workload.command, agent.ports.workload, modelPath, this.workloadHost()),
        env: { ...workload.env, SYNKTI_INSTANCE_ID: selfId, ...(modelPath ? { SYNKTI_MODEL_PATH: modelPath } : {}) },
        startupTimeoutMs: workload.startupTimeoutMs,
        logFile: this.options.workloadLogFile,
        pidFile: this.options.workloadPidFile,
        logger,
        onStateChange: (state) => this.onWorkloadState(state),
      });
      if (!this.draining) await this.supervisor.start();
      return;
    }
    this.router = createRouter({
      host: agent.identity!.privateIp,
      port: agent.ports.router,
      peers: () => this.readyPeers(),
      requestTimeoutMs: spec.timeouts.requestTimeoutMs,
      // The cluster config's router block (connect, first byte, stream idle, peer hold); unset ones keep the router's defaults.
      ...spec.router,
      healthy: () => agent.state === 'ready',
      // Router metrics (requests, errors, latency histogram, per-peer load) are served by
      // the agent's authenticated GET /metrics, not on the public router port.
      registry: agent.metricsRegistry,
    });
    await this.router.start();
    agent.load = () => this.router?.inFlight() ?? 0;
    this.scrapeEngine(agent);
    // Answered requests per second, gossiped for pools that scale on targetRps.
    this.requestRate = new RequestRate(() => counterTotal(agent.metricsRegistry, 'synkti_router_requests_total'));
    this.requestRate.start();
    const rate = this.requestRate;
    agent.requestRate = () => rate.value();
    this.supervisor = new WorkloadSupervisor({
      // Peers' routers reach the workload at this node's private IP (on EC2 and on the
      // emulated AWS, where every instance has its own address); locally that is 127.0.0.1.
      command: workloadCommand(workload.command, agent.ports.workload, modelPath, this.workloadHost()),
      env: {
        ...workload.env,
        PORT: String(agent.ports.workload),
        HOST: this.workloadHost(),
        SYNKTI_INSTANCE_ID: selfId,
        ...(modelPath ? { SYNKTI_MODEL_PATH: modelPath } : {}),
      },
      port: agent.ports.workload,
      host: this.workloadHost(),
      healthPath: workload.healthPath,
      startupTimeoutMs: workload.startupTimeoutMs,
      logFile: this.options.workloadLogFile,
      pidFile: this.options.workloadPidFile,
      logger,
      onStateChange: (state) => this.onWorkloadState(state),
    });
    await this.supervisor.start();
  }

  /**
   * Reads the node's own engine load (vLLM's /metrics) every second for the gossip: the
   * routers pick peers by it. A workload without those metrics leaves it undefined, and
   * routers fall back to outstanding requests. One scrape at a time; stops with the process.
   */
  private engineTimer: NodeJS.Timeout | undefined;

  private scrapeEngine(agent: Agent): void {
    let engine: EngineLoad | undefined;
    let busy = false;
    const host = this.workloadHost();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${agent.ports.workload}`;
    clearInterval(this.engineTimer);
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void scrapeEngineLoad(url, 500).then((load) => {
        engine = load;
        busy = false;
      });
    }, ENGINE_SCRAPE_MS);
    timer.unref();
    this.engineTimer = timer;
    agent.engineLoad = () => engine;
  }

  /** Where this node's workload listens: its private IP, as its peers' routers dial it. */
  private workloadHost(): string {
    return this.options.agent.identity?.privateIp ?? '127.0.0.1';
  }

  private onWorkloadState(state: WorkloadState): void {
    const { agent, logger } = this.options;
    if (this.draining || agent.state === 'draining' || agent.state === 'stopped') return;
    if (state === 'healthy' && agent.state === 'joining') {
      void agent.markReady().catch((error: unknown) => logger.warn({ err: error }, 'could not announce readiness'));
    } else if (state !== 'healthy' && agent.state === 'ready') {
      // Not serving: leave the routers' ready set until the workload is back.
      agent.setState('joining');
      void agent.membership?.announce();
    }
  }

  /** The spot notice: cut traffic over and launch the replacement at t=0, then drain. */
  drainForNotice(notice: InterruptionNotice): Promise<DrainReport> {
    return this.drain('interruption', notice.time);
  }

  /** SIGTERM: drain inside the shutdown grace, without a replacement (someone chose to stop us). */
  shutdown(): Promise<DrainReport> {
    return this.drain('shutdown', this.clock() + this.options.spec.timeouts.shutdownGraceMs);
  }

  private drain(reason: DrainReport['reason'], deadline: number): Promise<DrainReport> {
    if (!this.draining) this.leaveLoadBalancer(deadline);
    this.draining ??= this.runDrain(reason, deadline);
    return this.draining;
  }

  /**
   * t=0 of a drain: leave the load balancer so it sends no new request here, in parallel
   * with announcing `draining` and launching the replacement, and never awaited by the
   * drain (its in-flight requests finish during the target group's deregistration delay).
   */
  private leaveLoadBalancer(deadline: number): void {
    if (!this.loadBalancer) return;
    const until = deadline - this.options.spec.timeouts.drainMarginMs;
    this.leavingLoadBalancer = this.loadBalancer.deregister({ deadline: Math.max(until, this.clock() + 1000) });
  }

  /** Join the load balancer once the router serves (a replacement is in no Auto Scaling group that would register it). */
  private joinLoadBalancerWhenReady(): void {
    const { agent, spec } = this.options;
    this.loadBalancer = this.options.loadBalancer?.({
      instanceId: agent.identity!.instanceId,
      privateIp: agent.identity!.privateIp,
      routerPort: agent.ports.router,
      tags: agent.tags,
    });
    const member = this.loadBalancer;
    // No workload (or a portless one), no router: nothing for a load balancer to send here.
    if (!member || !spec.workload || spec.workload.kind === 'portless') return;
    const onState = (state: string): void => {
      if (state !== 'ready') return;
      agent.off('state', onState);
      void member.register();
    };
    agent.on('state', onState);
  }

  /** The drain in progress (and its load balancer exit) has finished; undefined when no drain began. */
  async drained(): Promise<DrainReport | undefined> {
    const report = await this.draining;
    await this.leavingLoadBalancer;
    return report;
  }

  private async runDrain(reason: DrainReport['reason'], deadline: number): Promise<DrainReport> {
    const { agent, spec, logger } = this.options;
    const startedAt = this.clock();
    const budgetMs = Math.max(0, deadline - startedAt - spec.timeouts.drainMarginMs);
    const endAt = startedAt + budgetMs;
    // New requests are still taken until one longest stream before the end of the budget,
    // so every request taken can finish; clients that reach this router after it are refused.
    // New requests until one maximum stream before the end of the budget, but never sooner
    // than a load balancer can notice the 503 health / deregistration (else its in-flight
    // picks hit a refused connection), and never past the budget.
    const cutoffInMs = Math.min(budgetMs, Math.max(spec.timeouts.balancerGraceMs, budgetMs - spec.timeouts.maxStreamDurationMs));
    // t=0, before `draining` is announced: health 503, every response closes its connection,
    // idle connections are closed, so clients and balancers reconnect elsewhere.
    // Fail-safe: every step runs on its own (drain-steps.ts); one that throws is logged and
    // reported, and the node still stops its workload, untags itself, announces `stopped` and leaves.
    const steps = new DrainSteps(logger);
    steps.runNow('router drain', () =>
      this.router?.drain({
        cutoffInMs,
        idleCloseMs: DRAIN_IDLE_CLOSE_MS,
        idleCloseAfterMs: spec.timeouts.balancerGraceMs,
        fallbackPeer: this.selfPeer(),
      }),
    );
    logger.warn({ reason, deadline: new Date(deadline).toISOString(), budgetMs, cutoffInMs }, 'draining');
    let replacement: string | undefined;
    let leftInFlight = 0;
    await steps.run('leave', () =>
      agent.stop({
        beforeLeave: async () => {
          // t=0: peers were told (agent.stop announces `draining` first); launch the replacement now.
          const launching =
            reason === 'interruption'
              ? steps.run('replacement launch', async () => {
                  replacement = (await this.replacer?.replaceSelf(agent.role))?.id;
                })
              : Promise.resolve();
          await steps.run('wait for idle', () => this.waitIdle(endAt, { quiet: true }));
          await launching;
          // Requests in flight (or taken since the idle check) get to the end of the budget, not
          // a fixed grace: the router cuts only what is still running then.
          const routerCut = (await steps.run('router stop', () => this.router?.stop({ graceMs: Math.max(0, endAt - this.clock()) }))) ?? 0;
          // The workload's own in-flight are other routers' requests: wait for them too.
          const workloadLeft = (await steps.run('wait for the workload', () => this.waitIdle(endAt, { quiet: false }))) ?? 0;
          leftInFlight = routerCut + workloadLeft;
          const remaining = Math.max(0, endAt - this.clock());
          // Whatever the workload still holds now is cut; routers retry it elsewhere if no byte was sent.
          // A portless workload's SIGTERM is its drain (a batch worker hands its tasks back): it gets the whole budget.
          const graceMs = spec.workload?.kind === 'portless' ? remaining : Math.min(remaining, 2000);
          await steps.run('workload stop', () => this.supervisor?.stop({ graceMs }));
          await steps.run('notice watcher stop', () => this.watcher?.stop());
          steps.runNow('replacer stop', () => this.replacer?.stop());
          steps.runNow('spot return stop', () => this.spotReturn?.stop());
          steps.runNow('zone exposure stop', () => clearInterval(this.exposureTimer));
          steps.runNow('autoscaler stop', () => this.autoscaler?.stop());
        },
      }),
    );
    const report: DrainReport = {
      reason,
      startedAt,
      deadline,
      budgetMs,
      cutoffAt: startedAt + cutoffInMs,
      leftInFlight,
      tookMs: this.clock() - startedAt,
      replacement,
      ...(steps.failed.length > 0 ? { failedSteps: steps.failed } : {}),
    };
    this.lastDrain = report;
    logger.warn(report, 'drain finished');
    return report;
  }

  /** This node's own workload as a router peer: the draining router's last resort. */
  private selfPeer(): RouterPeer | undefined {
    const self = this.agent.membership?.view.self;
    if (!self) return undefined;
    return { id: self.id, baseUrl: `http://${self.address.includes(':') ? `[${self.address}]` : self.address}:${self.workloadPort}` };
  }

  /**
   * Wait until neither the router nor the workload has requests in hand, or `until`. Returns
   * what was left. The router counts as idle only once no request came for a moment: clients
   * that keep sending straight to it are served until its cut-off rather than refused early.
   */
  private async waitIdle(until: number, options: { quiet: boolean }): Promise<number> {
    const host = this.workloadHost();
    const workloadUrl = `http://${host.includes(':') ? `[${host}]` : host}:${this.options.agent.ports.workload}`;
    for (;;) {
      const routed = this.router?.inFlight() ?? 0;
      const quiet = !options.quiet || this.router === undefined || this.router.idleForMs() >= DRAIN_IDLE_CLOSE_MS;
      // A portless workload serves no requests: nothing to wait for (its SIGTERM is its drain).
      const served = this.supervisor && this.options.spec.workload?.kind !== 'portless' ? await readWorkloadLoad(workloadUrl, 500) : 0;
      // Unknown workload load (no metrics): be safe and keep waiting until the budget ends.
      const left = routed + (served ?? Number.POSITIVE_INFINITY);
      if ((left === 0 && quiet) || this.clock() >= until) return Number.isFinite(left) ? left : routed;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stopAll(): Promise<void> {
    clearInterval(this.engineTimer);
    clearInterval(this.exposureTimer);
    this.spotReturn?.stop();
    this.autoscaler?.stop();
    this.requestRate?.stop();
    await this.watcher?.stop();
    this.replacer?.stop();
    await this.router?.stop({ graceMs: 0 });
    await this.supervisor?.stop({ graceMs: 1000 });
  }
}
