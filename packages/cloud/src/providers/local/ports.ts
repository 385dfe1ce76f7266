/**
 * Free TCP ports for local instances. On EC2 every instance has its own IP, so every
 * agent can listen on 7946; locally all instances share 127.0.0.1, so each one gets its
 * own ports instead, recorded as tags at launch (SynktiPortAgent, ...) where peers look
 * them up as they would look up a private IP.
 *
 * Ports are drawn below the kernel's ephemeral range when possible: a port handed out
 * there cannot be taken by some outgoing connection's local port before the instance's
 * agent gets round to binding it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const FALLBACK_LOW = 20_000;

function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > 1024 ? value : 32_768;
  } catch {
    return 32_768;
  }
}

/** Binds `port` on `host` and closes it; resolves to the bound port or undefined if taken. */
function probe(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * `count` distinct ports that are free on `host` right now and not in `exclude`.
 * Free "right now" only: callers record them in the registry so other instances avoid them.
 */
export async function allocatePorts(count: number, exclude: ReadonlySet<number>, host = '127.0.0.1'): Promise<number[]> {
  const chosen: number[] = [];
  const high = ephemeralRangeStart() - 1;
  const low = Math.min(FALLBACK_LOW, high - 1000);
  let attempts = 0;
  while (chosen.length < count) {
    attempts += 1;
    const candidate = attempts <= 200 ? low + Math.floor(Math.random() * (high - low + 1)) : 0;
    if (candidate !== 0 && (exclude.has(candidate) || chosen.includes(candidate))) continue;
    const port = await probe(host, candidate);
    if (port !== undefined && !exclude.has(port) && !chosen.includes(port)) chosen.push(port);
    if (attempts > 1000) throw new Error(`could not find ${count} free ports on ${host}`);
  }
  return chosen;
}
