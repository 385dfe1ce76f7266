/**
 * The embedded local cloud (what `npm start` and the tests use): instances are process
 * trees on this machine, objects are files, all state under one directory that any
 * number of processes may open at once.
 */
import { LocalInstanceProvider, type LocalCloudOptions } from './local-instance-provider.ts';
import { objectsDirOf } from './local-layout.ts';
import { LocalObjectStore } from './local-object-store.ts';

export interface LocalCloud {
  instances: LocalInstanceProvider;
  objects: LocalObjectStore;
  /** Base URL of an instance's metadata server (IMDSv2), once it listens; undefined for a terminated one. */
  metadataEndpointOf(id: string): string | undefined;
  /** Releases the registry; instances keep running (they are machines, not children). Idempotent. */
  close(): void;
}

export function createLocalCloud(options: LocalCloudOptions): LocalCloud {
  const instances = new LocalInstanceProvider(options);
  const objects = new LocalObjectStore({ root: objectsDirOf(instances.stateDir) });
  return {
    instances,
    objects,
    metadataEndpointOf: (id) => instances.metadataEndpointOf(id),
    close: () => instances.close(),
  };
}
