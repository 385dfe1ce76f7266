/**
 * CIDR sets judged by the address space they open, not by how they are spelled.
 * `0.0.0.0/1` + `128.0.0.0/1` is all of IPv4; `::0/0`, `0:0::/0` and
 * `0000:0000:0000:0000:0000:0000:0000:0000/0` are all of IPv6; an IPv4-mapped IPv6 block
 * (`::ffff:0:0/96`) opens the IPv4 space it maps.
 *
 * The threshold ("world-ish"): a set is treated as open to the world when, after merging
 * every block of one family, it opens at least as much *public* space as a /8 (IPv4:
 * 2^24 public addresses) or an IPv6 /16 (2^112 public addresses). Private, loopback,
 * link-local and carrier-grade-NAT ranges do not count: `10.0.0.0/8` is a VPC, not the
 * internet. So a `/1` alone, or 256 `/16`s together, is the world; a `/9` of public
 * space is not (it is a very large partner network, still flagged by no rule here).
 * A block that cannot be parsed is reported as such (`unparsable`): fail closed.
 */

export type CidrFamily = 4 | 6;

export interface ParsedCidr {
  family: CidrFamily;
  /** First address (host bits cleared), as an integer of the family's width. */
  start: bigint;
  /** Last address, inclusive. */
  end: bigint;
}

/** Longest CIDR string read; anything longer is not a CIDR block. */
const MAX_CIDR_CHARS = 64;

const V4_BITS = 32n;
const V6_BITS = 128n;
const V4_MAX = (1n << V4_BITS) - 1n;

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  let head = text;
  const groups: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const lastColon = head.lastIndexOf(':');
  let tail: number[] = [];
  if (lastColon >= 0 && head.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4(head.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
    head = head.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const readGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = readGroups(halves[0] ?? '');
  const right = halves.length === 2 ? readGroups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const given = left.length + right.length + tail.length;
  if (halves.length === 2) {
    if (given > 7) return undefined;
    groups.push(...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail);
  } else {
    if (given !== 8) return undefined;
    groups.push(...left, ...tail);
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Parses one block in any valid spelling; host bits are cleared (as AWS normalizes). */
export function parseCidr(value: unknown): ParsedCidr | undefined {
  if (typeof value !== 'string' || value.length > MAX_CIDR_CHARS) return undefined;
  const text = value.trim();
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return undefined;
  const isV6 = addr.includes(':');
  const width = isV6 ? V6_BITS : V4_BITS;
  const address = isV6 ? parseIpv6(addr) : parseIpv4(addr);
  if (address === undefined) return undefined;
  const bits = bitsText === undefined ? width : BigInt(bitsText);
  if (bits > width) return undefined;
  const hostBits = width - bits;
  const start = (address >> hostBits) << hostBits;
  return { family: isV6 ? 6 : 4, start, end: start + (1n << hostBits) - 1n };
}

type Range = [bigint, bigint];

/** Ranges that are not the internet: a block inside them opens nothing to the world. */
const NOT_PUBLIC_V4: readonly Range[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4',
].map((c) => {
  const p = parseCidr(c)!;
  return [p.start, p.end] as Range;
});
const NOT_PUBLIC_V6: readonly Range[] = ['::/96', 'fc00::/7', 'fe80::/10', 'ff00::/8'].map((c) => {
  const p = parseCidr(c)!;
  return [p.start, p.end] as Range;
});
/** ::ffff:0:0/96: IPv4 addresses written as IPv6. */
const MAPPED_V4 = parseCidr('::ffff:0:0/96')!;

/** The public addresses opened once a block opens per family reaches this, the set is "the world". */
export const WORLD_THRESHOLD: Readonly<Record<CidrFamily, bigint>> = { 4: 1n << 24n, 6: 1n << 112n };

function merge(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1n) {
      if (r[1] > last[1]) last[1] = r[1];
    } else {
      out.push([r[0], r[1]]);
    }
  }
  return out;
}

function size(ranges: readonly Range[]): bigint {
  return ranges.reduce((sum, [a, b]) => sum + (b - a + 1n), 0n);
}

function overlap(ranges: readonly Range[], exclude: readonly Range[]): bigint {
  let total = 0n;
  for (const [a, b] of ranges) {
    for (const [x, y] of exclude) {
      const lo = a > x ? a : x;
      const hi = b < y ? b : y;
      if (lo <= hi) total += hi - lo + 1n;
    }
  }
  return total;
}

export interface CidrSpace {
  /** Public addresses opened, per family, after merging overlaps. */
  publicAddresses: Record<CidrFamily, bigint>;
  /** Whether either family reaches WORLD_THRESHOLD. */
  world: boolean;
  /** Entries that are not CIDR blocks (judged as open: fail closed). */
  unparsable: string[];
}

/** Bound on blocks read from one set (hostile input). */
const MAX_BLOCKS = 10_000;

/** Judges a set of blocks (as one security rule or several rules on one port opens them). */
export function cidrSpace(values: readonly unknown[]): CidrSpace {
  const v4: Range[] = [];
  const v6: Range[] = [];
  const unparsable: string[] = [];
  for (const value of values.slice(0, MAX_BLOCKS)) {
    const p = parseCidr(value);
    if (!p) {
      unparsable.push(String(value).slice(0, MAX_CIDR_CHARS));
      continue;
    }
    if (p.family === 6 && p.start >= MAPPED_V4.start && p.end <= MAPPED_V4.end) {
      v4.push([p.start - MAPPED_V4.start, p.end - MAPPED_V4.start]);
    } else {
      (p.family === 4 ? v4 : v6).push([p.start, p.end]);
    }
  }
  if (values.length > MAX_BLOCKS) unparsable.push(`(${values.length - MAX_BLOCKS} more blocks not read)`);
  const m4 = merge(v4);
  const m6 = merge(v6);
  const publicAddresses = { 4: size(m4) - overlap(m4, NOT_PUBLIC_V4), 6: size(m6) - overlap(m6, NOT_PUBLIC_V6) } as Record<
    CidrFamily,
    bigint
  >;
  return { publicAddresses, world: publicAddresses[4] >= WORLD_THRESHOLD[4] || publicAddresses[6] >= WORLD_THRESHOLD[6], unparsable };
}

/** True when the blocks together open the world (see the threshold above) or one cannot be read. */
export function opensWorld(values: readonly unknown[]): boolean {
  const space = cidrSpace(values);
  return space.world || space.unparsable.length > 0;
}

/** A short description for a finding: "all of IPv4", "2^31 public IPv4 addresses", ... */
export function describeSpace(space: CidrSpace): string {
  const parts: string[] = [];
  const v4Public = V4_MAX + 1n - size(NOT_PUBLIC_V4);
  if (space.publicAddresses[4] >= v4Public) parts.push('all of public IPv4');
  else if (space.publicAddresses[4] > 0n) parts.push(`~2^${space.publicAddresses[4].toString(2).length - 1} public IPv4 addresses`);
  if (space.publicAddresses[6] > 0n) parts.push(`~2^${space.publicAddresses[6].toString(2).length - 1} public IPv6 addresses`);
  if (space.unparsable.length > 0)
    parts.push(
      `unparsable block(s) ${space.unparsable
        .slice(0, 3)
        .map((u) => JSON.stringify(u))
        .join(', ')}`,
    );
  return parts.join(' and ') || 'no public address';
}
