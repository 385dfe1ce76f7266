/**
 * `preview` / `up` / `destroy` / `outputs` through Pulumi's Automation API, with a saved
 * plan: `preview` writes the plan file, `up` applies exactly that plan (no recalculation,
 * the Pulumi equivalent of `terraform plan -out` + `terraform apply tfplan`).
 *
 * The Automation API drives the Pulumi CLI, which is not an npm package: every entry
 * point checks for it first and says how to install it.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { SynktiError } from '@synkti/core';
import { infraProgram, type InfraComponent, type InfraConfig } from './infra-program.ts';

export const PULUMI_INSTALL_URL = 'https://www.pulumi.com/docs/install/';
export const INFRA_PROJECT_NAME = 'synkti-infra';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Path of the `pulumi` executable on PATH (or in ~/.pulumi/bin), or undefined. */
export function findPulumiCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const names = process.platform === 'win32' ? ['pulumi.exe', 'pulumi.cmd'] : ['pulumi'];
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  dirs.push(join(env.HOME ?? homedir(), '.pulumi', 'bin'));
  for (const dir of dirs) for (const name of names) if (executable(join(dir, name))) return join(dir, name);
  return undefined;
}

/** Throws E_PULUMI_CLI_MISSING (with the install link) when the Pulumi CLI is absent. */
export function requirePulumiCli(action: string, env: NodeJS.ProcessEnv = process.env): string {
  const cli = findPulumiCli(env);
  if (cli === undefined) {
    throw new SynktiError(
      'E_PULUMI_CLI_MISSING',
      `synkti infra ${action} needs the Pulumi CLI, which is not installed (not on PATH nor in ~/.pulumi/bin)`,
      {
        hint: `install the Pulumi CLI (${PULUMI_INSTALL_URL}), then run this again; \`synkti infra audit\` works without it`,
      },
    );
  }
  return cli;
}

export interface InfraStackOptions {
  /** Stack name; selects the environment preset (dev / staging / production). */
  stack: string;
  config: InfraConfig;
  /** @default both */
  components?: readonly InfraComponent[] | undefined;
  /**
   * State backend. Local files for a personal dev stack; an S3 bucket (with locking,
   * see the README) for shared stacks. @default PULUMI_BACKEND_URL, else file://~/.synkti/pulumi
   */
  backendUrl?: string | undefined;
  /** Plan file written by preview and applied by up. @default ./.synkti/infra-<stack>.plan.json */
  planFile?: string | undefined;
  /** Progress lines. @default none */
  onOutput?: ((line: string) => void) | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

export function defaultPlanFile(stack: string): string {
  return join(process.cwd(), '.synkti', `infra-${stack}.plan.json`);
}

/** Where stack state lives: the option, else PULUMI_BACKEND_URL, else file://~/.synkti/pulumi. */
export function infraBackendUrl(o: { backendUrl?: string | undefined; env?: NodeJS.ProcessEnv | undefined }): string {
  return o.backendUrl ?? o.env?.PULUMI_BACKEND_URL ?? process.env.PULUMI_BACKEND_URL ?? `file://${join(homedir(), '.synkti', 'pulumi')}`;
}

/** The Automation API's project settings for Synkti's infrastructure project. */
export function infraProjectSettings(backendUrl: string): { name: string; runtime: 'nodejs'; backend: { url: string } } {
  return { name: INFRA_PROJECT_NAME, runtime: 'nodejs', backend: { url: backendUrl } };
}

async function openStack(o: InfraStackOptions, action: string) {
  requirePulumiCli(action, o.env);
  const { LocalWorkspace } = await import('@pulumi/pulumi/automation/index.js');
  return LocalWorkspace.createOrSelectStack(
    { stackName: o.stack, projectName: INFRA_PROJECT_NAME, program: async () => infraProgram(o.config, o.components)() },
    { projectSettings: infraProjectSettings(infraBackendUrl(o)) },
  );
}

/** Previews the changes and saves the plan `up` will apply. */
export async function infraPreview(o: InfraStackOptions): Promise<{ planFile: string; changes: Record<string, number> }> {
  const stack = await openStack(o, 'preview');
  const planFile = o.planFile ?? defaultPlanFile(o.stack);
  const result = await stack.preview({ plan: planFile, diff: true, onOutput: o.onOutput });
  return { planFile, changes: result.changeSummary as Record<string, number> };
}

/** Applies exactly the plan saved by `infraPreview`. */
export async function infraUp(o: InfraStackOptions): Promise<Record<string, unknown>> {
  requirePulumiCli('up', o.env);
  const planFile = o.planFile ?? defaultPlanFile(o.stack);
  if (!existsSync(planFile)) {
    throw new SynktiError('E_INFRA_NO_PLAN', `no saved plan at ${planFile}`, {
      hint: `run \`synkti infra preview --stack ${o.stack}\` first, review it, then \`synkti infra up\``,
    });
  }
  const stack = await openStack(o, 'up');
  const result = await stack.up({ plan: planFile, onOutput: o.onOutput });
  return Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.secret ? '[secret]' : v.value]));
}

/** Destroys the stack (protected resources such as the models bucket stay). */
export async function infraDestroy(o: InfraStackOptions): Promise<Record<string, number>> {
  const stack = await openStack(o, 'destroy');
  const result = await stack.destroy({ onOutput: o.onOutput });
  return (result.summary.resourceChanges ?? {}) as Record<string, number>;
}

/** Stack outputs; secrets shown as "[secret]". */
export async function infraOutputs(o: InfraStackOptions): Promise<Record<string, unknown>> {
  const stack = await openStack(o, 'outputs');
  const outputs = await stack.outputs();
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.secret ? '[secret]' : v.value]));
}
