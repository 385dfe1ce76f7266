import { Pool } from 'undici';

/** A peer the router may forward to: its id and the base URL of its workload server. */
export interface RouterPeer {
  /** Stable id of the peer (the instance id); shown in `x-synkti-peer` and metric labels. */
  id: string;
  /** Base URL of the peer's workload server, e.g. `http://127.0.0.1:8000`. Only `http:` is supported. */
  baseUrl: string;
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
  /** Keep-alive connections to the peer (undici: HTTP/1.1, one request per connection at a time). */
  readonly pool: Pool;
  /** Requests this router has in flight on the peer. */
  inFlight: number;
  /** True once the peer left the set (or changed its URL); its agent closes when idle. */
  retired: boolean;
}

function makeSlot(peer: RouterPeer, maxSockets: number): PeerSlot {
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
    // can avoid, and undici's parser costs far less per response and per chunk than
    // http.request's. Its own timeouts are off: the router's request deadline governs, and
    // a stream may pause between tokens for as long as the model needs.
    pool: new Pool(`http://${hostHeader === '' ? '127.0.0.1' : hostHeader}`, {
      connections: maxSockets,
      pipelining: 1,
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
    }),
    inFlight: 0,
    retired: false,
  };
}

/**
 * The peers the router can use, read from the membership callback on every pick (so a
 * peer that leaves the set gets no new request at once), with this router's per-peer
 * in-flight counts and one keep-alive pool per peer.
 */
export class PeerTable {
  readonly #peers: () => readonly RouterPeer[];
  readonly #maxInFlight: number;
  readonly #slots = new Map<string, PeerSlot>();

  constructor(peers: () => readonly RouterPeer[], maxInFlightPerPeer: number) {
    this.#peers = peers;
    this.#maxInFlight = maxInFlightPerPeer;
  }

  #slotFor(peer: RouterPeer): PeerSlot {
    let slot = this.#slots.get(peer.id);
    if (slot === undefined || slot.baseUrl !== peer.baseUrl) {
      if (slot !== undefined) this.#retire(slot);
      slot = makeSlot(peer, this.#maxInFlight);
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
   * Takes a slot on the least-loaded ready peer with spare capacity, skipping `exclude`;
   * ties are broken at random so equal peers share the load. Undefined when none can take it.
   */
  acquire(exclude?: ReadonlySet<string>): PeerSlot | undefined {
    const peers = this.#currentPeers();
    let best: PeerSlot | undefined;
    let ties = 0;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i]!;
      if (exclude !== undefined && exclude.has(peer.id)) continue;
      const slot = this.#slotFor(peer);
      if (slot.inFlight >= this.#maxInFlight) continue;
      if (best === undefined || slot.inFlight < best.inFlight) {
        best = slot;
        ties = 1;
      } else if (slot.inFlight === best.inFlight && Math.random() * ++ties < 1) {
        best = slot;
      }
    }
    if (best !== undefined) best.inFlight++;
    return best;
  }

  /** Gives back a slot taken with acquire(). */
  release(slot: PeerSlot): void {
    slot.inFlight--;
    if (slot.retired && slot.inFlight === 0) void slot.pool.destroy();
  }

  /** True when the current set holds a peer outside `exclude`, loaded or not. */
  hasCandidate(exclude: ReadonlySet<string>): boolean {
    const peers = this.#currentPeers();
    for (let i = 0; i < peers.length; i++) if (!exclude.has(peers[i]!.id)) return true;
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
    if (slot.inFlight === 0) void slot.pool.destroy();
  }

  /** In-flight counts of the known peers, for the metrics gauge. */
  *loads(): IterableIterator<[string, number]> {
    for (const slot of this.#slots.values()) yield [slot.id, slot.inFlight];
  }

  /** Closes every keep-alive connection. */
  destroy(): void {
    for (const slot of this.#slots.values()) {
      slot.retired = true;
      void slot.pool.destroy();
    }
    this.#slots.clear();
  }
}
