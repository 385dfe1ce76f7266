/**
 * Where the stand-in and tsx are on this node, resolved from the agent package itself, so
 * the `stand-in` workload preset runs from a repo checkout and from an installed agent
 * (/opt/synkti/<version>/node_modules/@synkti/agent) alike, whatever the workload's cwd.
 */
import { fileURLToPath } from 'node:url';

/** `true` in the compiled release (agent-bundle.ts defines it), where this file is part of lib/agent.mjs. */
declare const SYNKTI_COMPILED_RELEASE: boolean | undefined;
const COMPILED = typeof SYNKTI_COMPILED_RELEASE === 'boolean' && SYNKTI_COMPILED_RELEASE;

/** Absolute path of the stand-in's entry (main.ts beside this file; lib/stand-in.mjs in a release). */
export const STAND_IN_MAIN_PATH = fileURLToPath(new URL(COMPILED ? './stand-in.mjs' : './main.ts', import.meta.url));

/**
 * tsx's loader as the agent resolves it (a file: URL, valid for `node --import`). A release
 * is JavaScript already and ships no tsx: there `{tsx}` is lib/preload.mjs, which only
 * turns on source maps.
 */
export function tsxLoaderUrl(): string {
  return COMPILED ? new URL('./preload.mjs', import.meta.url).href : import.meta.resolve('tsx');
}
