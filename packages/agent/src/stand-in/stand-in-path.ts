/**
 * Where the stand-in and tsx are on this node, resolved from the agent package itself, so
 * the `stand-in` workload preset runs from a repo checkout and from an installed agent
 * (/opt/synkti/<version>/node_modules/@synkti/agent) alike, whatever the workload's cwd.
 */
import { fileURLToPath } from 'node:url';

/** Absolute path of the stand-in's entry (main.ts beside this file). */
export const STAND_IN_MAIN_PATH = fileURLToPath(new URL('./main.ts', import.meta.url));

/** tsx's loader as the agent resolves it (a file: URL, valid for `node --import`). */
export function tsxLoaderUrl(): string {
  return import.meta.resolve('tsx');
}
