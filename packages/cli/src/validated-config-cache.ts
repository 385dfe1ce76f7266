import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

// Validating a config needs zod, and evaluating zod is ~80 ms of a `synkti status`. The
// config is still imported at every run (it may read the environment), but when what it
// exports is the same as last time, validated by the same CLI build, the validated spec
// is read back instead. Anything that is not plain data (a function, a Date, a cycle) is
// never cached, and a spec is stored only when it reads back exactly equal.

/** Plain data as JSON plus the paths that held `undefined` (JSON drops them). */
interface Encoded {
  json: string;
  undefinedPaths: (string | number)[][];
}

/** Deeper than any config: a bound on hostile or cyclic input. */
const MAX_DEPTH = 32;

/** `value` as JSON, or undefined when it is not plain data that reads back exactly. */
export function encodePlain(value: unknown): Encoded | undefined {
  const undefinedPaths: (string | number)[][] = [];
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (path.length > MAX_DEPTH) throw new Error('too deep');
    if (node === undefined) {
      undefinedPaths.push(path);
      return null;
    }
    if (node === null || typeof node === 'string' || typeof node === 'boolean') return node;
    if (typeof node === 'number') {
      if (!Number.isFinite(node) || Object.is(node, -0)) throw new Error('number JSON does not keep');
      return node;
    }
    if (Array.isArray(node)) {
      const out: unknown[] = [];
      for (let i = 0; i < node.length; i++) {
        if (!(i in node)) throw new Error('sparse array');
        out.push(walk(node[i], [...path, i]));
      }
      return out;
    }
    if (typeof node === 'object') {
      const proto = Object.getPrototypeOf(node) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new Error('not a plain object');
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(node)) {
        // A key JSON.parse would not give back as an own data property.
        if (key === '__proto__') throw new Error('__proto__ key');
        out[key] = walk((node as Record<string, unknown>)[key], [...path, key]);
      }
      return out;
    }
    throw new Error(`${typeof node} is not data`);
  };
  try {
    return { json: JSON.stringify(walk(value, [])), undefinedPaths };
  } catch {
    return undefined;
  }
}

/** The value encodePlain encoded. */
export function decodePlain(encoded: Encoded): unknown {
  const root = JSON.parse(encoded.json) as unknown;
  if (encoded.undefinedPaths.some((path) => path.length === 0)) return undefined;
  for (const path of encoded.undefinedPaths) {
    let node = root as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
    node[path.at(-1)!] = undefined;
  }
  return root;
}

export interface ValidatedConfigCacheOptions {
  /**
   * The file URL of the running CLI build's core entry: its path, size and mtime are part
   * of the key, so another build (a rebuilt bundle, an upgraded install) validates afresh.
   */
  coreUrl: string;
  /**
   * Where validated configs are kept (created 0700), one file per config file.
   * @default $XDG_CACHE_HOME/synkti/validated, else ~/.cache/synkti/validated
   */
  cacheDir?: string | undefined;
}

interface Record_ {
  key: string;
  spec: Encoded;
}

/**
 * A cache of validated configs: `get` gives the spec validated before for this config
 * file, this CLI build and exactly this export, `set` stores one. Every failure (no
 * cache, a corrupt record, a read-only directory) is a miss, never an error.
 */
export function validatedConfigCache(options: ValidatedConfigCacheOptions): {
  get(file: string, exported: unknown): unknown;
  set(file: string, exported: unknown, spec: unknown): void;
} {
  const dir = options.cacheDir ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'synkti', 'validated');
  let build = options.coreUrl;
  try {
    const stat = statSync(fileURLToPath(options.coreUrl));
    build = `${options.coreUrl}\0${stat.size}\0${stat.mtimeMs}`;
  } catch {
    // Without the stat the key holds the URL only; a rebuilt bundle is a new directory anyway.
  }
  const recordFile = (file: string) => join(dir, `${createHash('sha256').update(`${file}\0${build}`).digest('hex').slice(0, 32)}.json`);
  const keyOf = (exported: unknown): string | undefined => {
    const encoded = encodePlain(exported);
    return encoded && createHash('sha256').update(`${build}\0${encoded.json}\0${JSON.stringify(encoded.undefinedPaths)}`).digest('hex');
  };
  return {
    get(file, exported) {
      const key = keyOf(exported);
      if (key === undefined) return undefined;
      try {
        const record = JSON.parse(readFileSync(recordFile(file), 'utf8')) as Record_;
        if (record.key !== key || typeof record.spec?.json !== 'string' || !Array.isArray(record.spec.undefinedPaths)) return undefined;
        return decodePlain(record.spec);
      } catch {
        return undefined;
      }
    },
    set(file, exported, spec) {
      const key = keyOf(exported);
      const encoded = encodePlain(spec);
      if (key === undefined || encoded === undefined || !isDeepStrictEqual(decodePlain(encoded), spec)) return;
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const out = recordFile(file);
        const tmp = `${out}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify({ key, spec: encoded } satisfies Record_), { mode: 0o600 });
        renameSync(tmp, out);
      } catch {
        // A read-only cache: validate every time, as before.
      }
    },
  };
}
