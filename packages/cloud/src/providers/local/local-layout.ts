/**
 * Where the local cloud keeps things under its state directory:
 *   registry.db                 instances, tags, meta (registry.ts)
 *   instances/<id>/console.log  the boot command's output (the instance's console)
 *   instances/<id>/host.log     the instance host's own output
 *   objects/<bucket>/           the object store (local-object-store.ts)
 */
import { join } from 'node:path';

export function instanceDirOf(stateDir: string, id: string): string {
  return join(stateDir, 'instances', id);
}

export function consoleLogOf(stateDir: string, id: string): string {
  return join(instanceDirOf(stateDir, id), 'console.log');
}

export function hostLogOf(stateDir: string, id: string): string {
  return join(instanceDirOf(stateDir, id), 'host.log');
}

export function objectsDirOf(stateDir: string): string {
  return join(stateDir, 'objects');
}
