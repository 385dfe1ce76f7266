import { performance } from 'node:perf_hooks';
import type { EngineLoad } from './engine-load.ts';
import { UpstreamPool } from './upstream-pool.ts';

/** A peer the router may forward to: its id and the base URL of its workload server. */
export interface RouterPeer {
  /** Stable id of the peer (the instance id); shown in `x-synkti-peer` and metric labels. */
  id: string;
  /** Base URL of the peer's workload server, e.g. `http://127.0.0.1:8000`. Only `http:` is supported. */
  baseUrl: string;
  /**
   * The peer's engine load as its node last reported it (gossiped). Present: the peer is
   * chosen by least expected queueing; absent: by this router's outstanding requests.
   */
  engine?: EngineLoad;
}

/** What the router knows about one peer: where it is, its keep-alive pool, its load from this router. */
export interface PeerSlot {
  readonly id: string;
  readonly baseUrl: string;
  readonly hostname: string;
  readonly port: number;
  /** Value of the `host` header sent upstream. */
  readonly hostHeader: string;
  /** Set when the base URL is not usable (e.g. not http:); requests to it fail like a refused connection. */
  readonly urlError: Error | undefined;
  /** Keep-alive connections to the peer (HTTP/1.1, one request per connection at a time). */
  readonly pool: UpstreamPool;
  /** Requests this router has in flight on the peer. */
  inFlight: number;
  /** Moving average of ms between body chunks of streamed responses (its decode speed); 0 until measured. */
  chunkMs: number;
  /** The engine report last seen for the peer, and this router's in-flight count when it arrived. */
  engineSeen: EngineLoad | undefined;
  ownAtEngine: number;
  /** The engine's batch size as last estimated from its reports; 0 until known. */
  capacity: number;
  /** True once the peer left the set (or changed its URL); its agent closes when idle. */
  retired: boolean;
  /** performance.now() until which the peer gets no new request (it timed out or was lost); 0: none. */
  heldUntil: number;
}

/** The per-peer connection timeouts of the router (see RouterOptions for their meaning); 0 turns one off. */
export interface PeerTimeouts {
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  streamIdleTimeoutMs: number;
}

/**
 * Connect 2 s: inside a VPC a connect takes well under a millisecond, and 2 s covers one
 * lost SYN (Linux resends it after 1 s); undici's default is 10 s. First byte 120 s and
 * stream idle 60 s: a model may queue and prefill for long before its first token (and a
 * non-streamed answer sends nothing until it is whole), so these are backstops for a peer
 * that is alive but stuck; a peer that vanished is cut sooner, when membership loses it.
 */
export const DEFAULT_PEER_TIMEOUTS: Readonly<PeerTimeouts> = {
  connectTimeoutMs: 2000,
  firstByteTimeoutMs: 120_000,
  streamIdleTimeoutMs: 60_000,
};

function makeSlot(peer: RouterPeer, maxSockets: number, timeouts: PeerTimeouts): PeerSlot {
  let hostname = '127.0.0.1';
  let port = 80;
  let hostHeader = '';
  let urlError: Error | undefined;
  try {
    const url = new URL(peer.baseUrl);
    if (url.protocol !== 'http:') throw new Error(`unsupported protocol ${url.protocol} in peer URL ${peer.baseUrl}`);
    // URL keeps brackets around IPv6 literals; the socket layer wants them off.
    hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    port = url.port === '' ? 80 : Number(url.port);
    hostHeader = url.host;
  } catch (error) {
    urlError = error instanceof Error ? error : new Error(String(error));
  }
  return {
    id: peer.id,
    baseUrl: peer.baseUrl,
    hostname,
    port,
    hostHeader,
    urlError,
    // One keep-alive pool per peer: connection setup is the largest per-request cost a proxy
    // can avoid. Its timeouts bound the silence of a peer whose address stopped answering
    // (packets dropped, no reset): connect, the response head, and the gaps between body
    // reads. The router's request deadline still bounds the whole request.
    pool: new UpstreamPool(hostname, port, {
      connections: maxSockets,
      connectTimeoutMs: timeouts.connectTimeoutMs,
      headersTimeoutMs: timeouts.firstByteTimeoutMs,
      bodyTimeoutMs: timeouts.streamIdleTimeoutMs,
      keepAliveTimeoutMs: 30_000,
    }),
    inFlight: 0,
    chunkMs: 0,
    engineSeen: undefined,
    ownAtEngine: 0,
    capacity: 0,
    retired: false,
    heldUntil: 0,
  };
}

/** Weight of the newest sample in a peer's chunk-time average (about the last 10 streams). */
const CHUNK_EWMA_WEIGHT = 0.1;
/** A peer may look at most this many times slower or faster than the average (bounds one bad sample). */
const MAX_SPEED_FACTOR = 8;

function scoreOf(slot: PeerSlot, engine: EngineLoad | undefined, meanChunkMs: number): number {
  if (engine === undefined) return slot.inFlight + 1;
  if (engine !== slot.engineSeen) {
    slot.engineSeen = engine;
    slot.ownAtEngine = slot.inFlight;
  }
  // Ahead of a new request: this router's own requests (counted now, exactly) plus the other
  // routers' share of the engine's report (up to a gossip period old). Taking the whole
  // report instead would herd: a peer that was busy a second ago would be shunned after it
  // emptied.
  const ahead = slot.inFlight + Math.max(0, engine.running + engine.waiting - slot.ownAtEngine);
  let factor = 1;
  if (meanChunkMs > 0 && slot.chunkMs > 0) {
    factor = Math.min(MAX_SPEED_FACTOR, Math.max(1 / MAX_SPEED_FACTOR, slot.chunkMs / meanChunkMs));
  }
  // The engine's batch size, from its KV-cache use (running sequences over the share of
  // cache they hold). A request that fits in the batch starts at once, however slowly the
  // peer decodes: those peers score below 1, by how full they are. Past the batch it
  // queues, and waits for about (queue position) x the peer's time per request.
  // An idle engine (no running request) says nothing of its size: keep the last estimate.
  const kv = engine.kvCacheUsage;
  if (kv !== undefined && kv > 0 && engine.running > 0) slot.capacity = Math.min(1e6, engine.running / kv);
  const capacity = slot.capacity;
  if (capacity > 0) {
    const queued = ahead + 1 - capacity;
    return queued <= 0 ? (ahead + 1) / capacity : 1 + queued * factor;
  }
  return (ahead + 1) * factor;
}

/**
 * The peers the router can use, read from the membership callback on every pick (so a
 * peer that leaves the set gets no new request at once), with this router's per-peer
 * in-flight counts and one keep-alive pool per peer.
 */
export class PeerTable {
  readonly #peers: () => readonly RouterPeer[];
  readonly #maxInFlight: number;
  readonly #timeouts: PeerTimeouts;
  readonly #now: () => number;
  readonly #slots = new Map<string, PeerSlot>();

  constructor(
    peers: () => readonly RouterPeer[],
    maxInFlightPerPeer: number,
    timeouts: PeerTimeouts = DEFAULT_PEER_TIMEOUTS,
    now: () => number = () => performance.now(),
  ) {
    this.#peers = peers;
    this.#maxInFlight = maxInFlightPerPeer;
    this.#timeouts = timeouts;
    this.#now = now;
  }

  /**
   * No new request goes to the peer for `ms` (it timed out, or membership lost it): a peer
   * whose address went silent costs one timeout, not one per request. A later pick after the
   * hold tries it again. Holding an unknown peer does nothing.
   */
  hold(peerId: string, ms: number): void {
    const slot = this.#slots.get(peerId);
    if (slot !== undefined) slot.heldUntil = Math.max(slot.heldUntil, this.#now() + ms);
  }

  #held(slot: PeerSlot | undefined, now: number): boolean {
    return slot !== undefined && slot.heldUntil > now;
  }

  #slotFor(peer: RouterPeer): PeerSlot {
    let slot = this.#slots.get(peer.id);
    if (slot === undefined || slot.baseUrl !== peer.baseUrl) {
      if (slot !== undefined) this.#retire(slot);
      slot = makeSlot(peer, this.#maxInFlight, this.#timeouts);
      this.#slots.set(peer.id, slot);
    }
    return slot;
  }

  #currentPeers(): readonly RouterPeer[] {
    try {
      return this.#peers();
    } catch {
      // A failing membership callback must not take the router down: treat it as "no peers".
      return [];
    }
  }

  /**
   * Takes a slot on the ready peer where a request should wait least, skipping `exclude`
   * and peers at this router's in-flight cap; ties are broken at random so equal peers
   * share the load. Undefined when none can take it.
   *
   * A peer whose engine reports its load is scored by expected queueing: the requests
   * ahead of a new one (this router's own, plus the rest of the engine's running + waiting
   * as last reported) plus one, times how slow the peer streams relative to the others
   * (measured here). A peer without engine
   * metrics is scored by this router's outstanding requests alone, plus one.
   */
  acquire(exclude?: ReadonlySet<string>): PeerSlot | undefined {
    const peers = this.#currentPeers();
    let sumChunkMs = 0;
    let measured = 0;
    for (let i = 0; i < peers.length; i++) {
      if (peers[i]!.engine === undefined) continue;
      const slot = this.#slots.get(peers[i]!.id);
      if (slot !== undefined && slot.chunkMs > 0) {
        sumChunkMs += slot.chunkMs;
        measured++;
      }
    }
    const meanChunkMs = measured > 0 ? sumChunkMs / measured : 0;
    let best: PeerSlot | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    let ties = 0;
    const now = this.#now();
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i]!;
      if (exclude !== undefined && exclude.has(peer.id)) continue;
      const slot = this.#slotFor(peer);
      if (slot.inFlight >= this.#maxInFlight || this.#held(slot, now)) continue;
      const score = scoreOf(slot, peer.engine, meanChunkMs);
      if (score < bestScore) {
        best = slot;
        bestScore = score;
        ties = 1;
      } else if (score === bestScore && Math.random() * ++ties < 1) {
        best = slot;
      }
    }
    if (best !== undefined) best.inFlight++;
    return best;
  }

  /** A streamed response from `slot` ended: `chunks` body chunks over `spanMs` from the first to the last. */
  noteStream(slot: PeerSlot, chunks: number, spanMs: number): void {
    // Fewer chunks say little about the peer's speed (and a one-chunk answer nothing).
    if (chunks < 4 || !(spanMs > 0)) return;
    const sample = spanMs / (chunks - 1);
    slot.chunkMs = slot.chunkMs === 0 ? sample : slot.chunkMs + (sample - slot.chunkMs) * CHUNK_EWMA_WEIGHT;
  }

  /** Gives back a slot taken with acquire(). */
  release(slot: PeerSlot): void {
    slot.inFlight--;
    if (slot.retired && slot.inFlight === 0) slot.pool.destroy();
  }

  /** True when the current set holds a peer outside `exclude` and not held, loaded or not. */
  hasCandidate(exclude: ReadonlySet<string>): boolean {
    const peers = this.#currentPeers();
    const now = this.#now();
    for (let i = 0; i < peers.length; i++) {
      const id = peers[i]!.id;
      if (!exclude.has(id) && !this.#held(this.#slots.get(id), now)) return true;
    }
    return false;
  }

  /** Forgets peers that left the set: their pools close once their requests are done. */
  sweep(): void {
    const current = new Set<string>();
    for (const peer of this.#currentPeers()) current.add(peer.id);
    for (const [id, slot] of this.#slots) {
      if (!current.has(id)) this.#retire(slot);
    }
  }

  #retire(slot: PeerSlot): void {
    if (this.#slots.get(slot.id) === slot) this.#slots.delete(slot.id);
    slot.retired = true;
    if (slot.inFlight === 0) slot.pool.destroy();
  }

  /** In-flight counts of the known peers, for the metrics gauge. */
  *loads(): IterableIterator<[string, number]> {
    for (const slot of this.#slots.values()) yield [slot.id, slot.inFlight];
  }

  /** Closes every keep-alive connection. */
  destroy(): void {
    for (const slot of this.#slots.values()) {
      slot.retired = true;
      slot.pool.destroy();
    }
    this.#slots.clear();
  }
}
