/**
 * Header rewriting between a client and an upstream. Hop-by-hop headers (RFC 9110 §7.6.1)
 * describe one connection, so a proxy must not forward them; everything else passes as is.
 * Headers travel as flat [name, value, name, value] arrays (node's rawHeaders form), which
 * keeps repeated headers and avoids building header objects on the hot path: each function
 * makes a single pass over the raw headers.
 */

/** Header a draining node puts on a response to hand the request back for another peer. */
export const RETRY_HEADER = 'x-synkti-retry';
/** Header the router adds to every proxied response: the id of the peer that served it. */
export const PEER_HEADER = 'x-synkti-peer';

const enum Kind {
  Keep,
  Drop,
  Connection,
  ContentLength,
  TransferEncoding,
  ForwardedFor,
  Retry,
}

// Lower-case names that need handling; everything else is kept as is.
const REQUEST_KINDS = new Map<string, Kind>([
  ['connection', Kind.Connection],
  ['keep-alive', Kind.Drop],
  ['proxy-connection', Kind.Drop],
  ['transfer-encoding', Kind.TransferEncoding],
  ['te', Kind.Drop],
  ['trailer', Kind.Drop],
  ['upgrade', Kind.Drop],
  ['proxy-authenticate', Kind.Drop],
  ['proxy-authorization', Kind.Drop],
  ['host', Kind.Drop],
  ['content-length', Kind.ContentLength],
  ['expect', Kind.Drop],
  ['x-forwarded-for', Kind.ForwardedFor],
]);
const RESPONSE_KINDS = new Map<string, Kind>([
  ['connection', Kind.Connection],
  ['keep-alive', Kind.Drop],
  ['proxy-connection', Kind.Drop],
  ['transfer-encoding', Kind.Drop],
  ['te', Kind.Drop],
  ['trailer', Kind.Drop],
  ['upgrade', Kind.Drop],
  ['proxy-authenticate', Kind.Drop],
  ['proxy-authorization', Kind.Drop],
  [RETRY_HEADER, Kind.Retry],
  [PEER_HEADER, Kind.Drop],
]);
// Header names are short; anything longer than the longest special name is kept without a lookup.
const MAX_SPECIAL = 19;

/** Extra header names a `Connection` value marks as hop-by-hop (besides close/keep-alive). */
function connectionTokens(value: string, into: Set<string> | undefined): Set<string> | undefined {
  // The common values name no other header; skip the split.
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return into;
  }
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive') (into ??= new Set()).add(t);
  }
  return into;
}

function dropNamed(headers: string[], names: Set<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!names.has(headers[i]!.toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
  }
  return out;
}

/** The client request's headers as the upstream should see them, minus `host` (per peer). */
export interface PreparedRequest {
  /** End-to-end headers, `x-forwarded-for` extended, `content-length` left to the body. */
  headers: string[];
  /** The request announces a body (content-length or transfer-encoding). */
  hasBody: boolean;
  /** The announced content-length, or -1. */
  contentLength: number;
}

export function prepareRequestHeaders(raw: readonly string[], clientAddress: string | undefined): PreparedRequest {
  const headers: string[] = [];
  let tokens: Set<string> | undefined;
  let forwardedFor: string | undefined;
  let hasBody = false;
  let contentLength = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const kind = name.length > MAX_SPECIAL ? undefined : REQUEST_KINDS.get(name.toLowerCase());
    if (kind === undefined) {
      headers.push(name, value);
      continue;
    }
    switch (kind) {
      case Kind.Connection:
        tokens = connectionTokens(value, tokens);
        break;
      case Kind.ContentLength:
        hasBody = true;
        contentLength = Number(value);
        break;
      case Kind.TransferEncoding:
        hasBody = true;
        break;
      case Kind.ForwardedFor:
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        break;
      default:
        break;
    }
  }
  if (clientAddress !== undefined) {
    headers.push('x-forwarded-for', forwardedFor === undefined ? clientAddress : `${forwardedFor}, ${clientAddress}`);
  } else if (forwardedFor !== undefined) {
    headers.push('x-forwarded-for', forwardedFor);
  }
  return { headers: tokens === undefined ? headers : dropNamed(headers, tokens), hasBody, contentLength };
}

/** The upstream response's headers for the client, plus `x-synkti-peer`. */
export interface PreparedResponse {
  headers: string[];
  /** The upstream handed the request back (`x-synkti-retry: 1`). */
  handback: boolean;
}

export function prepareResponseHeaders(raw: readonly string[], peerId: string): PreparedResponse {
  let headers: string[] = [];
  let tokens: Set<string> | undefined;
  let handback = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const kind = name.length > MAX_SPECIAL ? undefined : RESPONSE_KINDS.get(name.toLowerCase());
    if (kind === undefined) {
      headers.push(name, value);
    } else if (kind === Kind.Connection) {
      tokens = connectionTokens(value, tokens);
    } else if (kind === Kind.Retry) {
      if (value.trim() === '1') handback = true;
    }
  }
  if (tokens !== undefined) headers = dropNamed(headers, tokens);
  headers.push(PEER_HEADER, peerId);
  return { headers, handback };
}
