/**
 * Who may enter this node's membership view, and what it may claim (issue 17).
 *
 * A member entry is taken only when:
 * - it is signed by the key it carries (identity/node-key.ts), and
 * - that key is the member's: fetched once per key from the member's own agent
 *   (`GET /v1/identity`) at the address and ports its cloud-signed identity document
 *   names, with the document verified against the cloud this node trusts (AWS's
 *   certificate, or the local cloud's key): instance id = member id, private IP = the
 *   announced address, ports = those signed into the document (local clouds, where every
 *   instance shares 127.0.0.1) or the cluster's configured ports (EC2, own IP each),
 *   same account / same cluster as this node. Only the real instance answers at its own
 *   address, so a replayed document is worth nothing with another key.
 * Until then the entry is held (the latest one per id) and applied once verified.
 * Verification is bounded: one fetch in flight per member, `maxConcurrent` overall, a
 * refused (id, key) is not retried for `refusalTtlMs`.
 */
import { isIP } from 'node:net';
import { SynktiError, isSynktiError } from '@synkti/core';
import { identityProofSchema, verifyIdentityProof, type IdentityDocument, type IdentityProof, type IdentityTrust } from '@synkti/cloud';
import { z } from 'zod';
import type { Member } from '../membership-view.ts';
import type { PeerClient } from '../peer-client.ts';
import type { Logger } from '../logger.ts';
import { memberSignatureValid } from './node-key.ts';

/** What GET /v1/identity answers. */
export const identityAnswerSchema = z.object({ proof: identityProofSchema, key: z.string().max(64) });
export type IdentityAnswer = z.infer<typeof identityAnswerSchema>;

export interface MemberVerifierOptions {
  selfId: string;
  cluster: string;
  /** Our own verified document: peers must be of the same account (EC2) / cluster (local). */
  selfDocument: IdentityDocument;
  trust: IdentityTrust;
  /** The cluster's configured ports: where an EC2 member must listen (its document names none). */
  defaultPorts: { agent: number; router: number; workload: number };
  peers: PeerClient;
  logger: Logger;
  /** Called with a member's latest held entry once its key is verified. */
  onVerified: (member: Member) => void;
  /** @default 4 */
  maxConcurrent?: number;
  /** @default 30000 */
  refusalTtlMs?: number;
  /** @default 2000 */
  fetchTimeoutMs?: number;
  clock?: () => number;
}

export type Verdict = 'ok' | 'pending' | 'refused';

/** An unreachable member is asked again after this (it answers gossip again soon). */
const TRANSIENT_RETRY_MS = 1000;

interface Trusted {
  key: string;
  document: IdentityDocument;
}

export class MemberVerifier {
  private readonly options: MemberVerifierOptions;
  private readonly clock: () => number;
  private readonly trusted = new Map<string, Trusted>();
  private readonly held = new Map<string, Member>();
  private readonly inFlight = new Set<string>();
  private readonly queue: string[] = [];
  private readonly refused = new Map<string, number>();
  private active = 0;
  /** Counters for tests and metrics. */
  readonly stats = { verified: 0, refused: 0, badSignatures: 0, fetches: 0 };

  constructor(options: MemberVerifierOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  /** The cloud document a member proved (undefined: not verified). */
  documentOf(id: string): IdentityDocument | undefined {
    return this.trusted.get(id)?.document;
  }

  /**
   * May this entry enter the view? 'ok' when signed by the member's verified key and at its
   * document's address and ports; 'pending' while its key is being verified (the entry is
   * held and handed to onVerified later); 'refused' when it can never be (bad signature,
   * wrong address, our own id).
   */
  check(member: Member): Verdict {
    if (member.id === this.options.selfId) return 'refused'; // only we speak for ourselves
    // An instance's address is an IP its cloud assigned: never a host name to resolve (and fetch from).
    if (isIP(member.address) === 0) return 'refused';
    if (!memberSignatureValid(member)) {
      this.stats.badSignatures += 1;
      return 'refused';
    }
    const trusted = this.trusted.get(member.id);
    if (trusted && trusted.key === member.key) {
      return this.placeMatches(member, trusted.document) ? 'ok' : 'refused';
    }
    const refusedUntil = this.refused.get(refusalKey(member));
    if (refusedUntil !== undefined) {
      if (refusedUntil > this.clock()) return 'refused';
      this.refused.delete(refusalKey(member));
    }
    const held = this.held.get(member.id);
    if (
      !held ||
      held.key !== member.key ||
      member.incarnation > held.incarnation ||
      (member.incarnation === held.incarnation && member.version > held.version)
    ) {
      if (this.held.size < 10_000 || this.held.has(member.id)) this.held.set(member.id, member);
    }
    this.enqueue(member.id);
    return 'pending';
  }

  /** A member entry is where its document says: address, and ports (signed in, or the cluster's). */
  placeMatches(member: Member, document: IdentityDocument): boolean {
    if (member.address !== document.privateIp) return false;
    const signed = document.synkti?.ports;
    const ports = {
      agent: signed?.agent ?? this.options.defaultPorts.agent,
      router: signed?.router ?? this.options.defaultPorts.router,
      workload: signed?.workload ?? this.options.defaultPorts.workload,
    };
    return member.agentPort === ports.agent && member.routerPort === ports.router && member.workloadPort === ports.workload;
  }

  /** Forget a member (it left the view for good): a new start proves itself again. */
  forget(id: string): void {
    this.trusted.delete(id);
    this.held.delete(id);
  }

  private enqueue(id: string): void {
    if (this.inFlight.has(id) || this.queue.includes(id)) return;
    if (this.queue.length >= 1000) return; // bounded: it comes again with the next gossip
    this.queue.push(id);
    this.pump();
  }

  private pump(): void {
    const max = this.options.maxConcurrent ?? 4;
    while (this.active < max && this.queue.length > 0) {
      const id = this.queue.shift()!;
      const member = this.held.get(id);
      if (!member) continue;
      this.active += 1;
      this.inFlight.add(id);
      void this.verify(member).finally(() => {
        this.active -= 1;
        this.inFlight.delete(id);
        this.pump();
      });
    }
  }

  private async verify(member: Member): Promise<void> {
    const { logger } = this.options;
    try {
      this.stats.fetches += 1;
      const body = await this.options.peers.request(member, 'GET', '/v1/identity', undefined, this.options.fetchTimeoutMs ?? 2000);
      const parsed = identityAnswerSchema.safeParse(body);
      if (!parsed.success) throw new SynktiError('E_IDENTITY_INVALID', `member ${member.id} answered /v1/identity with an invalid body`);
      const document = this.verifyAnswer(member, parsed.data.proof, parsed.data.key);
      this.trusted.set(member.id, { key: parsed.data.key, document });
      this.stats.verified += 1;
      const held = this.held.get(member.id);
      this.held.delete(member.id);
      if (held && held.key === parsed.data.key) this.options.onVerified(held);
    } catch (error) {
      this.stats.refused += 1;
      // Unreachable (booting, loaded, gone) is not a lie: try again soon. A proof that
      // fails is: that (id, key, address) is refused for a while.
      const transient = isSynktiError(error) && (error.code === 'E_PEER_UNREACHABLE' || error.code === 'E_PEER_HTTP');
      this.refused.set(refusalKey(member), this.clock() + (transient ? TRANSIENT_RETRY_MS : (this.options.refusalTtlMs ?? 30_000)));
      if (this.refused.size > 10_000) this.refused.clear();
      const held = this.held.get(member.id);
      if (held && held.key === member.key) this.held.delete(member.id);
      logger.warn(
        { peer: member.id, address: member.address, agentPort: member.agentPort, err: (error as Error).message },
        'member identity not verified: not taken into the view',
      );
    }
  }

  /** The checks on a peer's proof; returns its document. */
  verifyAnswer(member: Member, proof: IdentityProof, key: string): IdentityDocument {
    const document = verifyIdentityProof(proof, this.options.trust);
    const fail = (what: string): never => {
      throw new SynktiError('E_IDENTITY_MISMATCH', `member ${member.id}: ${what}`, {
        hint: 'a member can only announce the instance, address and ports its cloud-signed identity document names',
      });
    };
    if (document.instanceId !== member.id) fail(`its identity document is instance ${document.instanceId}`);
    if (key !== member.key) fail('the node at its address holds another key');
    if (!this.placeMatches(member, document))
      fail(
        `address/ports ${member.address}:${member.agentPort}/${member.routerPort}/${member.workloadPort} are not those of its identity document`,
      );
    const self = this.options.selfDocument;
    if (self.accountId !== undefined && document.accountId !== self.accountId) fail('its instance is in another account');
    if (self.synkti && document.synkti?.cluster !== this.options.cluster)
      fail(`its instance is tagged for cluster ${document.synkti?.cluster ?? '(none)'}`);
    return document;
  }
}

function refusalKey(member: Member): string {
  return `${member.id}\u0000${member.key ?? ''}\u0000${member.address}:${member.agentPort}`;
}
