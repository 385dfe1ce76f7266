/**
 * Header rewriting between a client and an upstream. Hop-by-hop headers (RFC 9110 §7.6.1)
 * describe one connection, so a proxy must not forward them; everything else passes as is.
 * Headers travel as flat [name, value, name, value] arrays (node's rawHeaders form), which
 * keeps repeated headers and avoids building objects on the hot path.
 */

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'proxy-authorization',
]);

/** Header a draining node puts on a response to hand the request back for another peer. */
export const RETRY_HEADER = 'x-synkti-retry';
/** Header the router adds to every proxied response: the id of the peer that served it. */
export const PEER_HEADER = 'x-synkti-peer';

/** Extra names the `Connection` header marks as hop-by-hop, or undefined for the usual values. */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const t = token.trim().toLowerCase();
      if (t === '' || t === 'close' || t === 'keep-alive') continue;
      (tokens ??= new Set()).add(t);
    }
  }
  return tokens;
}

/**
 * Headers for the upstream request: the client's end-to-end headers, `host` set to the
 * upstream, `content-length` for the buffered body and the client added to `x-forwarded-for`.
 */
export function upstreamRequestHeaders(
  raw: readonly string[], hostHeader: string, bodyLength: number | undefined, clientAddress: string | undefined,
): string[] {
  const out: string[] = [];
  const extra = connectionTokens(raw);
  let forwardedFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'host' || lower === 'content-length' || lower === 'expect') continue;
    if (extra?.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? raw[i + 1]! : `${forwardedFor}, ${raw[i + 1]!}`;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  out.push('host', hostHeader);
  if (bodyLength !== undefined) out.push('content-length', String(bodyLength));
  if (clientAddress !== undefined) {
    out.push('x-forwarded-for', forwardedFor === undefined ? clientAddress : `${forwardedFor}, ${clientAddress}`);
  } else if (forwardedFor !== undefined) {
    out.push('x-forwarded-for', forwardedFor);
  }
  return out;
}

/** Headers for the client: the upstream's end-to-end headers plus `x-synkti-peer`. */
export function clientResponseHeaders(raw: readonly string[], peerId: string): string[] {
  const out: string[] = [];
  const extra = connectionTokens(raw);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === RETRY_HEADER || lower === PEER_HEADER) continue;
    if (extra?.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  out.push(PEER_HEADER, peerId);
  return out;
}
