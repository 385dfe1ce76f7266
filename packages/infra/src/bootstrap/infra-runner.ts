/**
 * The infrastructure step behind an interface, so bootstrap can be tested without the
 * Pulumi CLI (tests stand in a fake runner). The real one's `up` is `synkti infra
 * preview` + `synkti infra up` in one go: preview saves a plan, up applies exactly that
 * plan. Its `preview` (bootstrap --dry-run) changes nothing: no stack is created and no
 * plan file written; a stack that does not exist yet is reported as planned, unpreviewed.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InfraConfig } from '../infra-program.ts';

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
  /**
   * Set when no preview could run without changing something (the stack does not exist
   * yet): what `up` would do, for people. `changes` is then empty.
   */
  planned?: string | undefined;
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
  return Object.entries(changes)
    .filter(([kind]) => kind !== 'same')
    .reduce((n, [, v]) => n + v, 0);
}

/**
 * Whether a stack exists in a file:// backend, from its files alone (asking the Pulumi CLI
 * would set up the backend's directory on first use). undefined for other backends.
 */
export function fileBackendHasStack(backendUrl: string, project: string, stack: string): boolean | undefined {
  if (!backendUrl.startsWith('file://')) return undefined;
  const raw = backendUrl.slice('file://'.length);
  const root = raw.startsWith('~') ? join(homedir(), raw.slice(1)) : backendUrl.startsWith('file:///') ? fileURLToPath(backendUrl) : raw;
  const stacks = join(root, '.pulumi', 'stacks');
  // Project-scoped layout (current Pulumi) or the legacy flat one; plain or gzipped state.
  return [join(stacks, project, stack), join(stacks, stack)].some((base) => existsSync(`${base}.json`) || existsSync(`${base}.json.gz`));
}

/** The Automation-API runner (the rest of @synkti/infra, and Pulumi with it, is loaded on first use). */
export function createPulumiInfraRunner(
  options: { backendUrl?: string | undefined; env?: NodeJS.ProcessEnv | undefined } = {},
): InfraRunner {
  return {
    async preview(request) {
      const infra = await import('../index.ts');
      infra.requirePulumiCli('preview', options.env);
      const backendUrl = infra.infraBackendUrl(options);
      const planned = `stack ${request.stack} does not exist yet: would create it, run pulumi preview, then up exactly that plan`;
      if (fileBackendHasStack(backendUrl, infra.INFRA_PROJECT_NAME, request.stack) === false) return { changes: {}, planned };
      const { LocalWorkspace } = await import('@pulumi/pulumi/automation/index.js');
      let stack;
      try {
        // select, never create; no plan file (infraPreview would do both).
        stack = await LocalWorkspace.selectStack(
          { stackName: request.stack, projectName: infra.INFRA_PROJECT_NAME, program: async () => infra.infraProgram(request.config)() },
          { projectSettings: infra.infraProjectSettings(backendUrl) },
        );
      } catch (error) {
        if (/no stack named|not found|does not exist/i.test(String((error as Error)?.message ?? error))) return { changes: {}, planned };
        throw error;
      }
      const result = await stack.preview({ diff: true, onOutput: request.onOutput });
      return { changes: result.changeSummary as Record<string, number> };
    },
    async up(request) {
      const infra = await import('../index.ts');
      const stack = {
        stack: request.stack,
        config: request.config,
        backendUrl: options.backendUrl,
        env: options.env,
        onOutput: request.onOutput,
      };
      const { planFile, changes } = await infra.infraPreview(stack);
      const outputs = await infra.infraUp({ ...stack, planFile });
      return { changes, outputs };
    },
  };
}
