/**
 * The infrastructure step behind an interface, so bootstrap can be tested without the
 * Pulumi CLI (tests stand in a fake runner). The real one is `synkti infra preview` +
 * `synkti infra up` in one go: preview saves a plan, up applies exactly that plan.
 */
import type { InfraConfig } from '@synkti/infra';

export interface InfraRunRequest {
  /** Pulumi stack name. */
  stack: string;
  config: InfraConfig;
  /** Progress lines (Pulumi's output). */
  onOutput?: ((line: string) => void) | undefined;
}

export interface InfraPreviewResult {
  /** Pulumi's change summary, e.g. { create: 12 } or { same: 12 }. */
  changes: Record<string, number>;
}

export interface InfraUpResult extends InfraPreviewResult {
  /** Stack outputs (secrets shown as "[secret]"), e.g. modelsBucketName. */
  outputs: Record<string, unknown>;
}

export interface InfraRunner {
  /** What `up` would change (nothing is changed). */
  preview(request: InfraRunRequest): Promise<InfraPreviewResult>;
  /** Brings the stack up to date and returns its outputs. */
  up(request: InfraRunRequest): Promise<InfraUpResult>;
}

/** Changes other than "same" (Pulumi counts unchanged resources as `same`). */
export function countChanges(changes: Record<string, number>): number {
  return Object.entries(changes).filter(([kind]) => kind !== 'same').reduce((n, [, v]) => n + v, 0);
}

/** The Automation-API runner (@synkti/infra, and Pulumi with it, is loaded on first use). */
export function createPulumiInfraRunner(options: { backendUrl?: string | undefined; env?: NodeJS.ProcessEnv | undefined } = {}): InfraRunner {
  return {
    async preview(request) {
      const infra = await import('@synkti/infra');
      const { changes } = await infra.infraPreview({ stack: request.stack, config: request.config, backendUrl: options.backendUrl, env: options.env, onOutput: request.onOutput });
      return { changes };
    },
    async up(request) {
      const infra = await import('@synkti/infra');
      const stack = { stack: request.stack, config: request.config, backendUrl: options.backendUrl, env: options.env, onOutput: request.onOutput };
      const { planFile, changes } = await infra.infraPreview(stack);
      const outputs = await infra.infraUp({ ...stack, planFile });
      return { changes, outputs };
    },
  };
}
