import { z } from 'zod';
import { GENERATION_PATTERN } from '@synkti/core';

/** The largest user data a desired config may carry (EC2 allows 16 KiB of user data; the local config is JSON of a few KiB). */
export const MAX_DESIRED_USER_DATA = 64 * 1024;
/** Pools one node keeps a desired config for (bounds what a caller can make it hold). */
export const MAX_DESIRED_POOLS = 64;

const ROLE = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * `PUT /v1/desired-config` (cluster secret required): what `synkti deploy` tells every
 * node before it surges a new generation. `userData` set: replacements of `role` this node
 * launches boot with it from now on; `userData` null: back to the node's own boot config.
 */
export const desiredConfigRequestSchema = z.strictObject({
  role: z.string().regex(ROLE),
  generation: z.string().regex(GENERATION_PATTERN),
  userData: z.string().min(1).max(MAX_DESIRED_USER_DATA).nullable(),
});
export type DesiredConfigRequest = z.infer<typeof desiredConfigRequestSchema>;

export interface DesiredConfig {
  generation: string;
  userData: string;
}

/**
 * The pool's desired config as this node last heard it from a rollout. No control plane
 * holds it: the operator's `synkti deploy` sets it on every live node, new nodes boot with
 * it (their own config is the desired one), and a rerun of the deploy sets it again. Kept in
 * memory: an agent that restarts falls back to its own boot config until the next deploy.
 */
export class DesiredConfigs {
  private readonly byRole = new Map<string, DesiredConfig>();

  /** Apply a request; false when the node already holds the most pools it keeps. */
  apply(request: DesiredConfigRequest): boolean {
    if (request.userData === null) {
      this.byRole.delete(request.role);
      return true;
    }
    if (!this.byRole.has(request.role) && this.byRole.size >= MAX_DESIRED_POOLS) return false;
    this.byRole.set(request.role, { generation: request.generation, userData: request.userData });
    return true;
  }

  get(role: string): DesiredConfig | undefined {
    return this.byRole.get(role);
  }

  /** Pool → desired generation, for GET /status. */
  generations(): Record<string, string> {
    return Object.fromEntries([...this.byRole].map(([role, config]) => [role, config.generation]));
  }
}
