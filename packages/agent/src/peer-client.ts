import { SynktiError } from '@synkti/core';
import { swimReplySchema, type SwimMessage, type SwimReply } from './gossip-messages.ts';

export interface PeerAddress {
  address: string;
  agentPort: number;
}

export interface PeerClientOptions {
  /** The cluster secret every agent API call carries (never logged). */
  secret: string;
  /** @default 1000 */
  timeoutMs?: number;
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** Calls other agents' APIs, authenticated with the cluster secret. */
export class PeerClient {
  private readonly authorization: string;
  private readonly timeoutMs: number;

  constructor(options: PeerClientOptions) {
    this.authorization = `Bearer ${options.secret}`;
    this.timeoutMs = options.timeoutMs ?? 1000;
  }

  baseUrl(peer: PeerAddress): string {
    return `http://${hostForUrl(peer.address)}:${peer.agentPort}`;
  }

  /** Deliver one membership message; the peer answers with the messages it has for us. */
  async swim(peer: PeerAddress, message: SwimMessage, timeoutMs = this.timeoutMs): Promise<SwimReply> {
    const body = await this.request(peer, 'POST', '/v1/gossip', message, timeoutMs);
    const parsed = swimReplySchema.safeParse(body);
    if (!parsed.success)
      throw new SynktiError('E_PEER_PROTOCOL', `peer ${this.baseUrl(peer)} answered a membership message with an invalid reply`);
    return parsed.data;
  }

  async request(peer: PeerAddress, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<unknown> {
    const url = this.baseUrl(peer) + path;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: this.authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new SynktiError('E_PEER_UNREACHABLE', `peer ${url} unreachable`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new SynktiError('E_PEER_HTTP', `peer ${url} answered ${response.status}`, {
        hint: response.status === 401 ? 'the peers do not share the same cluster secret' : undefined,
      });
    }
    try {
      return text.length === 0 ? undefined : JSON.parse(text);
    } catch (error) {
      throw new SynktiError('E_PEER_PROTOCOL', `peer ${url} answered with invalid JSON`, { cause: error });
    }
  }
}
