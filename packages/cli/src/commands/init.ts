import { existsSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { SynktiError, initTemplate } from '@synkti/core';

export interface InitOptions {
  name?: string | undefined;
  force: boolean;
  cwd: string;
}

/**
 * `synkti init`: write a commented starter synkti.config.ts. Its workload is the stand-in
 * preset, whose placeholders each agent fills from its own package, so the file holds no
 * path of this machine and works from a clone and from an installed CLI alike.
 */
export function init(options: InitOptions): string {
  const file = resolve(options.cwd, 'synkti.config.ts');
  if (existsSync(file) && !options.force) {
    throw new SynktiError('E_EXISTS', `${file} already exists`, { hint: 'pass --force to overwrite it' });
  }
  const fallback = basename(options.cwd)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '');
  const name = options.name ?? (/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/.test(fallback) ? fallback : 'my-fleet');
  writeFileSync(file, initTemplate({ name }));
  return file;
}
