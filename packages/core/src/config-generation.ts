import { createHash } from 'node:crypto';
import type { ClusterSpec } from './cluster-spec.ts';

/** What a generation id looks like: `g` and 12 hex digits of a SHA-256. */
export const GENERATION_PATTERN = /^g[0-9a-f]{12}$/;

/** JSON with object keys sorted at every depth, so equal configs hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export interface ConfigGenerationExtra {
  /** The machine image or agent artifact new nodes boot (aws: the AMI id / artifact key). @default none */
  image?: string | undefined;
}

/**
 * The config generation a node runs: a stable hash of what it serves (the workload and the
 * model, plus the image/artifact when given). Two nodes with equal generations serve the
 * same thing; timeouts, ports and pool sizes are not part of it (changing them needs no
 * rollout). A rollout (`synkti deploy`) moves a pool from one generation to another.
 */
export function configGeneration(spec: Pick<ClusterSpec, 'workload' | 'model'>, extra: ConfigGenerationExtra = {}): string {
  const hash = createHash('sha256')
    .update(canonicalJson({ workload: spec.workload ?? null, model: spec.model ?? null, image: extra.image ?? null }))
    .digest('hex');
  return `g${hash.slice(0, 12)}`;
}

/**
 * The tag through which the cloud's record vouches for a desired config: the operator's
 * `synkti deploy` (holding cloud credentials) writes `<generation>:<sha256 of the user data>`
 * under this key on each node it asks, and a node takes the config only when its own
 * instance carries that exact value. The cluster secret alone (which every node and the
 * dashboard hold) cannot choose what replacements boot; nodes can tag only at launch.
 */
export function desiredConfigTag(role: string): string {
  return `SynktiDesired-${role}`;
}

/** The value of desiredConfigTag for a config: its generation and the SHA-256 of its user data. */
export function desiredConfigTagValue(generation: string, userData: string): string {
  return `${generation}:${createHash('sha256').update(userData).digest('hex')}`;
}
