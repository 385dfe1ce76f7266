/**
 * API keys of `synkti api`. Each key names an owner, the owner's stream (reserved jobs
 * are claimed before best-effort ones) and how many unfinished jobs it may have at once
 * (so one owner cannot flood the fleet). Keys come from a JSON file or the
 * SYNKTI_API_KEYS environment variable ("key:owner[:reserved|best-effort[:maxActive]],...").
 * Lookups hash the presented key and compare digests in constant time; keys are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SynktiError } from '@synkti/core';
import type { PipelineJobStream } from '../types.ts';

export interface ApiKeyEntry {
  /** The secret (≥ 16 characters). */
  key: string;
  owner: string;
  /** @default "best-effort" */
  stream: PipelineJobStream;
  /** Unfinished jobs allowed at once. @default 100 */
  maxActiveJobs: number;
  /** Sees and cancels every owner's jobs. @default false */
  admin: boolean;
}

export const API_KEYS_ENV = 'SYNKTI_API_KEYS';

const entrySchema = z.object({
  key: z.string().min(16, 'an API key must have at least 16 characters'),
  owner: z.string().regex(/^[A-Za-z0-9._@-]{1,100}$/, 'owner: 1..100 letters, digits or ._@-'),
  stream: z.enum(['reserved', 'best-effort']).default('best-effort'),
  maxActiveJobs: z.number().int().min(1).max(1_000_000).default(100),
  admin: z.boolean().default(false),
});

export function parseApiKeys(text: string, source: string): ApiKeyEntry[] {
  let entries: unknown;
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      entries = JSON.parse(trimmed);
    } catch (cause) {
      throw new SynktiError('E_CONFIG_API_KEYS', `${source} is not valid JSON`, {
        cause,
        hint: 'write [{ "key": "...", "owner": "alice" }]',
      });
    }
  } else {
    entries = trimmed
      .split(',')
      .filter(Boolean)
      .map((item) => {
        const [key, owner, stream, max] = item.trim().split(':');
        return { key, owner, ...(stream ? { stream } : {}), ...(max ? { maxActiveJobs: Number(max) } : {}) };
      });
  }
  const parsed = z.array(entrySchema).min(1, 'at least one key').safeParse(entries);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SynktiError('E_CONFIG_API_KEYS', `${source}: ${issue?.path.join('.') || 'keys'}: ${issue?.message ?? 'invalid'}`, {
      hint: `give keys as JSON [{ "key", "owner", "stream"?, "maxActiveJobs"? }] or ${API_KEYS_ENV}="key:owner[:reserved][:maxActive],..."`,
    });
  }
  return parsed.data;
}

export function loadApiKeys(options: { file?: string | undefined; env?: NodeJS.ProcessEnv }): ApiKeyEntry[] {
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (cause) {
      throw new SynktiError('E_CONFIG_API_KEYS', `cannot read the API keys file ${options.file}`, {
        cause,
        hint: 'check the --api-keys path',
      });
    }
    return parseApiKeys(text, options.file);
  }
  const env = (options.env ?? process.env)[API_KEYS_ENV];
  if (env) return parseApiKeys(env, API_KEYS_ENV);
  throw new SynktiError('E_CONFIG_API_KEYS', 'synkti api needs API keys (it never runs unauthenticated)', {
    hint: `pass --api-keys keys.json or set ${API_KEYS_ENV}="<secret of 16+ chars>:<owner>"`,
  });
}

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/** Finds the entry of a presented key in constant time per entry. */
export class ApiKeyring {
  private readonly entries: Array<{ digest: Buffer; entry: ApiKeyEntry }>;

  constructor(entries: ApiKeyEntry[]) {
    this.entries = entries.map((entry) => ({ digest: digest(entry.key), entry }));
  }

  lookup(presented: string | undefined): ApiKeyEntry | undefined {
    if (!presented || presented.length > 1024) return undefined;
    const d = digest(presented);
    let found: ApiKeyEntry | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.entry;
    return found;
  }
}
