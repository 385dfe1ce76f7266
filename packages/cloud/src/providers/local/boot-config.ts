/**
 * The local analogue of an AMI plus user data: the command every instance boots, with
 * its environment and working directory. Saved in the registry's meta table by whoever
 * creates the cloud with a `bootCommand` (the CLI), so any later process (an agent that
 * launches a replacement) opens the same cloud without knowing how instances boot.
 */
import { SynktiError } from '@synkti/core';
import type { LocalRegistry } from './registry.ts';

export interface BootConfig {
  /** argv of the boot program; undefined: instances boot into an idle host. */
  command: string[] | undefined;
  /** Extra environment of the boot program (values are never logged). */
  env: Record<string, string>;
  /** Working directory of the boot program. */
  cwd: string;
}

const KEY_COMMAND = 'bootCommand';
const KEY_ENV = 'bootEnv';
const KEY_CWD = 'bootCwd';

/**
 * Variables of the creating process that every instance starts with, like the few a
 * fresh machine image has. Everything else (cloud credentials, tokens in the operator's
 * shell) stays out: an instance gets only what the saved `env` gives it.
 */
const MACHINE_ENV_KEYS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SYNKTI_LOG_LEVEL'];

export function machineEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of MACHINE_ENV_KEYS) {
    const value = source[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

export function validateBootCommand(command: unknown): string[] {
  if (!Array.isArray(command) || command.length === 0 || !command.every((part) => typeof part === 'string') || command[0] === '') {
    throw new SynktiError('E_LOCAL_CLOUD_OPTIONS', 'bootCommand must be a non-empty array of strings (program, then arguments)', {
      hint: "pass e.g. [process.execPath, '--import', 'tsx', 'path/to/agent-main.ts']",
    });
  }
  return command as string[];
}

function validateEnv(env: unknown): Record<string, string> {
  if (typeof env !== 'object' || env === null || Array.isArray(env) || !Object.values(env).every((v) => typeof v === 'string')) {
    throw new SynktiError('E_LOCAL_CLOUD_OPTIONS', 'env must map variable names to string values', {
      hint: 'convert numbers and booleans to strings',
    });
  }
  return { ...(env as Record<string, string>) };
}

/** Saves the parts given; the others keep their saved values. */
export function saveBootConfig(
  registry: LocalRegistry,
  config: { command?: string[] | undefined; env?: Record<string, string> | undefined; cwd?: string | undefined },
): void {
  registry.immediate(() => {
    if (config.command !== undefined) registry.setMeta(KEY_COMMAND, JSON.stringify(validateBootCommand(config.command)));
    if (config.env !== undefined) registry.setMeta(KEY_ENV, JSON.stringify(validateEnv(config.env)));
    if (config.cwd !== undefined) registry.setMeta(KEY_CWD, config.cwd);
  });
}

export function loadBootConfig(registry: LocalRegistry): BootConfig {
  const command = registry.getMeta(KEY_COMMAND);
  const env = registry.getMeta(KEY_ENV);
  return {
    command: command === undefined ? undefined : validateBootCommand(JSON.parse(command)),
    env: env === undefined ? {} : validateEnv(JSON.parse(env)),
    cwd: registry.getMeta(KEY_CWD) ?? process.cwd(),
  };
}
