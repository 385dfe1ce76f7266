import { EventEmitter } from 'node:events';
import {
  SynktiError,
  TAG_CLUSTER,
  TAG_PORT_AGENT,
  TAG_PORT_ROUTER,
  TAG_PORT_WORKLOAD,
  TAG_ROLE,
  desiredConfigTag,
  desiredConfigTagValue,
} from '@synkti/core';
import type { AgentStatus } from '@synkti/core/contracts';
import type { InstanceIdentity, InstanceMetadata, InstanceProvider, InstanceRecord } from '@synkti/cloud';
import { AgentApi } from './agent-api.ts';
import { AgentMetrics } from './agent-metrics.ts';
import { AgentDashboardMount, type AgentDashboardOptions } from './dashboard-mount.ts';
import { canTransition, type AgentState } from './agent-state.ts';
import type { Logger } from './logger.ts';
import { Membership } from './membership.ts';
import { swimMessageSchema } from './gossip-messages.ts';
import { MembershipView, type Member } from './membership-view.ts';
import { PeerClient, type PeerAddress } from './peer-client.ts';
import { generateNodeKey } from './identity/node-key.ts';
import { MemberVerifier, type IdentityAnswer } from './identity/member-verifier.ts';
import { verifyIdentityProof } from '@synkti/cloud';
import type { EngineLoad } from './router/engine-load.ts';
import { DesiredConfigs, desiredConfigRequestSchema } from './rollout/desired-config.ts';

export interface AgentOptions {
  cluster: string;
  metadata: InstanceMetadata;
  instances: InstanceProvider;
  /** The cluster secret that authenticates the agent API (never logged). */
  secret: string;
  /** Default ports when an instance's tags do not say otherwise (on EC2 they never do). */
  defaultPorts: { agent: number; router: number; workload: number };
  /** @default 1000 */
  gossipIntervalMs?: number;
  /** @default 5000 */
  failureTimeoutMs?: number;
  /** @default 15000 */
  listIntervalMs?: number;
  /** @default 2 */
  listers?: number;
  /**
   * Address the agent API binds to. Locally the instance's private IP is 127.0.0.1; on EC2
   * it is the private IP, so the API is never on a public interface.
   * @default the instance's private IP
   */
  bindHost?: string;
  /** The fleet dashboard at /dashboard/ on the agent port (loaded on first use). @default enabled */
  dashboard?: AgentDashboardOptions;
  logger: Logger;
  clock?: () => number;
  /** The config generation this node runs (configGeneration of its boot config), gossiped and shown in status. @default none */
  generation?: string | undefined;
  /**
   * The user data this node booted with: a rollout that rolls back reads it from a node of
   * the previous generation (GET /v1/desired-config) to relaunch that generation. @default none
   */
  bootUserData?: string | undefined;
}

export interface AgentEvents {
  state: [AgentState];
  memberJoined: [Member];
  memberLost: [Member];
}

function portFromTag(tags: Record<string, string>, key: string, fallback: number): number {
  const value = tags[key];
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SynktiError('E_AGENT_TAGS', `tag ${key}=${value} is not a port`, {
      hint: 'launch instances through synkti so ports are tagged correctly',
    });
  }
  return port;
}

/** Where an instance's agent listens, from its launch tags or the cluster defaults. */
export function peerAddressFromRecord(record: InstanceRecord, defaults: { agent: number }): PeerAddress {
  return { address: record.privateIp, agentPort: portFromTag(record.tags, TAG_PORT_AGENT, defaults.agent) };
}

/**
 * The node agent: boots from its instance metadata, joins the fleet through the cloud's
 * tag index and peer gossip, and serves its API. States: booting → joining → ready →
 * draining → stopped.
 */
export class Agent extends EventEmitter<AgentEvents> {
  private readonly options: AgentOptions;
  private readonly clock: () => number;
  private currentState: AgentState = 'booting';
  private api: AgentApi | undefined;
  private metrics: AgentMetrics | undefined;
  private dashboard: AgentDashboardMount | undefined;
  membership: Membership | undefined;
  /** Verifies peers' identities (undefined: running without identities). */
  verifier: MemberVerifier | undefined;
  private identityAnswer: IdentityAnswer | undefined;
  identity: InstanceIdentity | undefined;
  tags: Record<string, string> = {};
  role = '';
  ports = { agent: 0, router: 0, workload: 0 };
  startedAt = 0;
  /** Extra fields for GET /status (e.g. workload and router state, added by later stages). */
  statusExtras: () => Pick<AgentStatus, 'workload' | 'router' | 'drain' | 'model' | 'autoscale'> = () => ({});
  /** Current load to advertise (in-flight requests). */
  load: () => number = () => 0;
  /** Its engine's last scraped load (set by the node runtime when the workload exports vLLM metrics). */
  engineLoad: () => EngineLoad | undefined = () => undefined;
  /** Its router's answered requests per second (set by the node runtime once its router runs). */
  requestRate: () => number | undefined = () => undefined;
  /** Per pool, the config a rollout asked replacements to boot with (PUT /v1/desired-config). */
  readonly desiredConfigs = new DesiredConfigs();
  private stopping: Promise<void> | undefined;

  constructor(options: AgentOptions) {
    super();
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  get state(): AgentState {
    return this.currentState;
  }

  /** The Prometheus registry behind GET /metrics (the router registers its metrics here too). */
  get metricsRegistry(): AgentMetrics['registry'] | undefined {
    return this.metrics?.registry;
  }

  get logger(): Logger {
    return this.options.logger;
  }

  get view(): MembershipView {
    if (!this.membership) throw new SynktiError('E_AGENT_NOT_STARTED', 'the agent has not joined yet');
    return this.membership.view;
  }

  /** Boot and join. Resolves once the agent is in `joining` with its API up and a first view. */
  async boot(): Promise<void> {
    const { metadata, logger } = this.options;
    this.startedAt = this.clock();
    this.identity = await metadata.identity();
    this.tags = await metadata.tags();
    if (this.tags[TAG_CLUSTER] !== this.options.cluster) {
      throw new SynktiError(
        'E_AGENT_TAGS',
        `instance ${this.identity.instanceId} is tagged ${TAG_CLUSTER}=${this.tags[TAG_CLUSTER] ?? '(none)'}, not ${this.options.cluster}`,
        {
          hint: 'launch workers with synkti so they carry the cluster tags; enable instance-metadata tags on EC2',
        },
      );
    }
    this.role = this.tags[TAG_ROLE] ?? 'worker';
    const defaults = this.options.defaultPorts;
    this.ports = {
      agent: portFromTag(this.tags, TAG_PORT_AGENT, defaults.agent),
      router: portFromTag(this.tags, TAG_PORT_ROUTER, defaults.router),
      workload: portFromTag(this.tags, TAG_PORT_WORKLOAD, defaults.workload),
    };
    this.metrics = new AgentMetrics({ cluster: this.options.cluster, instance: this.identity.instanceId, role: this.role });
    this.metrics.setState('booting');

    // Identity (issue 17): a fresh key per start, bound by peers to the cloud-signed
    // document this instance's metadata serves. A metadata without one (test fakes) runs
    // without identities; every real instance (EC2, local, emulated) has one.
    const nodeKey = generateNodeKey();
    const signed = metadata.identityProof ? await metadata.identityProof() : undefined;
    if (signed) {
      // Our own document must pass our own checks, or no peer would take us either.
      const own = verifyIdentityProof(signed.proof, signed.trust);
      if (own.instanceId !== this.identity.instanceId || own.privateIp !== this.identity.privateIp) {
        throw new SynktiError(
          'E_IDENTITY_MISMATCH',
          `the signed identity document names ${own.instanceId} at ${own.privateIp}, not this instance ${this.identity.instanceId} at ${this.identity.privateIp}`,
          {
            hint: "the instance metadata serves another instance's document; restart the instance",
          },
        );
      }
      this.identityAnswer = { proof: signed.proof, key: nodeKey.publicKey };
    } else {
      logger.warn(
        'the instance metadata serves no signed identity: running without member identities (peers that require them will not take this node)',
      );
    }
    const view = new MembershipView({
      self: {
        id: this.identity.instanceId,
        role: this.role,
        zone: this.identity.zone,
        address: this.identity.privateIp,
        agentPort: this.ports.agent,
        routerPort: this.ports.router,
        workloadPort: this.ports.workload,
        state: 'booting',
        incarnation: this.startedAt,
        version: 0,
        load: 0,
        ...(this.options.generation === undefined ? {} : { generation: this.options.generation }),
      },
      clock: this.clock,
      signSelf: signed ? (member) => nodeKey.signMember(member) : undefined,
    });
    const peers = new PeerClient({ secret: this.options.secret, timeoutMs: Math.max(500, this.options.gossipIntervalMs ?? 1000) });
    const verifier =
      signed &&
      new MemberVerifier({
        selfId: this.identity.instanceId,
        cluster: this.options.cluster,
        selfDocument: verifyIdentityProof(signed.proof, signed.trust),
        trust: signed.trust,
        defaultPorts: defaults,
        peers,
        logger,
        onVerified: (member) => this.membership?.swim.learn(member),
        clock: this.clock,
      });
    this.verifier = verifier || undefined;
    this.membership = new Membership({
      view,
      cluster: this.options.cluster,
      instances: this.options.instances,
      peers,
      verifier: verifier || undefined,
      peerAddressOf: (record) => peerAddressFromRecord(record, defaults),
      gossipIntervalMs: this.options.gossipIntervalMs,
      failureTimeoutMs: this.options.failureTimeoutMs,
      listIntervalMs: this.options.listIntervalMs,
      listers: this.options.listers,
      logger,
      clock: this.clock,
      onJoined: (member) => {
        logger.info({ peer: member.id, role: member.role }, 'peer joined');
        this.emit('memberJoined', member);
      },
      onLost: (member) => {
        logger.info({ peer: member.id, lastState: member.state }, member.state === 'stopped' ? 'peer left' : 'peer lost');
        this.metrics?.membersLost.inc({ reason: member.state === 'stopped' ? 'left' : 'lost' });
        // A member that comes back (a new start, a refutation) proves itself again.
        this.verifier?.forget(member.id);
        this.emit('memberLost', member);
      },
    });

    if (this.options.dashboard?.enabled !== false) {
      this.dashboard = new AgentDashboardMount({
        ...this.options.dashboard,
        cluster: this.options.cluster,
        secret: this.options.secret,
        agent: {
          selfId: this.identity.instanceId,
          members: () => view.members(),
          status: () => this.status(),
          metricsText: () => this.metrics!.registry.metrics(),
          onMemberLost: (listener) => {
            this.on('memberLost', listener);
          },
        },
      });
    }
    this.api = new AgentApi({
      secret: this.options.secret,
      host: this.options.bindHost ?? this.identity.privateIp,
      port: this.ports.agent,
      logger,
      routes: this.routes(),
      mount: this.dashboard,
    });
    await this.api.start();
    this.setState('joining');
    await this.membership.join();
    this.membership.start();
    logger.info({ members: view.members().length, port: this.ports.agent }, 'joined the fleet');
  }

  /** Mark the agent ready to serve and tell every peer at once. */
  async markReady(): Promise<void> {
    this.setState('ready');
    await this.membership?.announce();
  }

  setState(next: AgentState, extra: Partial<Member> = {}): void {
    if (next === this.currentState) return;
    if (!canTransition(this.currentState, next)) {
      throw new SynktiError('E_AGENT_STATE', `agent cannot go from ${this.currentState} to ${next}`);
    }
    this.options.logger.info({ from: this.currentState, to: next }, 'agent state');
    this.currentState = next;
    this.metrics?.setState(next);
    this.membership?.view.updateSelf({ state: next, ...extra });
    this.emit('state', next);
  }

  /**
   * Graceful stop (SIGTERM): leave the fleet — untag ourselves, tell peers we left — and
   * close the API. Idempotent. `beforeLeave` runs while still a member (drain hooks).
   */
  stop(options: { beforeLeave?: () => Promise<void> } = {}): Promise<void> {
    this.stopping ??= (async () => {
      const { logger } = this.options;
      if (this.currentState !== 'stopped' && this.currentState !== 'draining') this.setState('draining');
      // Fail-safe: whatever throws before it, the node still untags itself, says `stopped` and leaves.
      await this.membership?.announce().catch((error: unknown) => logger.warn({ err: error }, 'could not announce draining'));
      if (options.beforeLeave) {
        try {
          await options.beforeLeave();
        } catch (error) {
          logger.error({ err: error }, 'a step before leaving failed; leaving anyway');
        }
      }
      if (this.identity) {
        try {
          await this.options.instances.untag([this.identity.instanceId], [TAG_CLUSTER, TAG_ROLE]);
        } catch (error) {
          logger.warn({ err: error }, 'could not untag this instance on shutdown');
        }
      }
      this.setState('stopped');
      this.membership?.stop();
      await this.membership?.announce().catch((error: unknown) => logger.warn({ err: error }, 'could not announce stopped'));
      try {
        this.dashboard?.stop();
      } catch (error) {
        logger.warn({ err: error }, 'could not stop the dashboard');
      }
      await this.api?.stop();
      logger.info('agent stopped');
    })();
    return this.stopping;
  }

  /** GET /status, shaped as @synkti/core/contracts agentStatusSchema (the CLI and dashboard parse it with it). */
  status(): AgentStatus {
    const now = this.clock();
    const view = this.membership?.view;
    return {
      id: this.identity?.instanceId ?? '',
      cluster: this.options.cluster,
      role: this.role,
      zone: this.identity?.zone ?? '',
      state: this.currentState,
      pid: process.pid,
      address: this.identity?.privateIp ?? '',
      ports: this.ports,
      startedAt: this.startedAt,
      uptimeMs: now - this.startedAt,
      load: this.load(),
      members:
        view?.members().map((m) => ({
          id: m.id,
          role: m.role,
          state: m.state,
          address: m.address,
          agentPort: m.agentPort,
          routerPort: m.routerPort,
          zone: m.zone,
          load: m.load,
          ...(m.generation ? { generation: m.generation } : {}),
        })) ?? [],
      cloudListCalls: this.membership?.cloudListCalls ?? 0,
      ...(this.options.generation ? { generation: this.options.generation } : {}),
      ...(Object.keys(this.desiredConfigs.generations()).length > 0 ? { desiredGenerations: this.desiredConfigs.generations() } : {}),
      ...this.statusExtras(),
    };
  }

  /** Why the cloud's record does not vouch for this desired config (undefined: it does). */
  private async unvouchedDesiredConfig(role: string, generation: string, userData: string): Promise<string | undefined> {
    const key = desiredConfigTag(role);
    const selfId = this.identity?.instanceId;
    if (selfId === undefined) return 'this node does not know its instance yet';
    let tags: Record<string, string> | undefined;
    try {
      const page = await this.options.instances.list({ ids: [selfId] });
      tags = page.items.find((record) => record.id === selfId)?.tags;
    } catch (error) {
      return `could not read this node's instance record to check the ${key} tag: ${(error as Error).message}`;
    }
    if (tags === undefined) return `this node's instance record was not found, so nothing vouches for the config`;
    if (tags[key] !== desiredConfigTagValue(generation, userData))
      return `this node's instance does not carry ${key}=<generation>:<sha256 of the user data> for this config (synkti deploy writes it with cloud credentials)`;
    return undefined;
  }

  private routes(): ConstructorParameters<typeof AgentApi>[0]['routes'] {
    return {
      'GET /live': () => ({ status: 200, body: { live: true } }),
      'GET /ready': () =>
        this.currentState === 'ready'
          ? { status: 200, body: { ready: true } }
          : { status: 503, body: { ready: false, state: this.currentState } },
      'GET /status': () => ({ status: 200, body: this.status() }),
      // What this node booted with and what a rollout set: a rollback relaunches the previous generation from it.
      'GET /v1/desired-config': () => ({
        status: 200,
        body: {
          generation: this.options.generation ?? null,
          userData: this.options.bootUserData ?? null,
          desired: this.desiredConfigs.generations(),
        },
      }),
      // A rollout (`synkti deploy`) tells every node which config replacements of a pool boot with.
      // The cluster secret is not enough: what replacements boot is code on new machines, so
      // the config is taken only when this node's own cloud record carries its hash, written
      // by the operator's deploy with cloud credentials (nodes can tag only at launch).
      // Clearing (null) only returns to the node's own boot config and needs no vouching.
      'PUT /v1/desired-config': async ({ body }) => {
        const parsed = desiredConfigRequestSchema.safeParse(body);
        if (!parsed.success)
          return {
            status: 400,
            body: {
              error: 'invalid desired config',
              issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
            },
          };
        if (parsed.data.userData !== null) {
          const refusal = await this.unvouchedDesiredConfig(parsed.data.role, parsed.data.generation, parsed.data.userData);
          if (refusal !== undefined) {
            this.options.logger.warn(
              { role: parsed.data.role, generation: parsed.data.generation, reason: refusal },
              'desired config refused: the cloud record does not vouch for it',
            );
            return { status: 403, body: { error: refusal } };
          }
        }
        if (!this.desiredConfigs.apply(parsed.data))
          return { status: 409, body: { error: 'this node keeps desired configs for at most 64 pools' } };
        this.options.logger.info(
          { role: parsed.data.role, generation: parsed.data.generation, cleared: parsed.data.userData === null },
          'desired config set by a rollout',
        );
        return {
          status: 200,
          body: {
            role: parsed.data.role,
            generation: parsed.data.userData === null ? (this.options.generation ?? null) : parsed.data.generation,
          },
        };
      },
      'GET /metrics': async () => {
        const metrics = this.metrics!;
        const membership = this.membership;
        metrics.members.set(membership?.view.size ?? 0);
        if (membership) {
          for (const [event, count] of Object.entries(membership.swim.stats)) metrics.membership.set({ event }, count);
          metrics.membership.set({ event: 'undelivered' }, membership.sendFailures);
          metrics.cloudListCalls.set(membership.cloudListCalls);
        }
        return { status: 200, text: await metrics.registry.metrics(), contentType: metrics.registry.contentType };
      },
      // This node's cloud-signed identity and its key: what peers bind our entries to.
      'GET /v1/identity': () =>
        this.identityAnswer
          ? { status: 200, body: this.identityAnswer }
          : { status: 404, body: { error: 'this node runs without a signed identity' } },
      'POST /v1/gossip': ({ body }) => {
        const parsed = swimMessageSchema.safeParse(body);
        if (!parsed.success)
          return {
            status: 400,
            body: {
              error: 'invalid membership message',
              issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
            },
          };
        if (!this.membership) return { status: 503, body: { error: 'agent is booting' } };
        this.membership.view.setSelfLoad(this.load(), this.engineLoad(), this.requestRate());
        return { status: 200, body: this.membership.receive(parsed.data) };
      },
    };
  }
}
