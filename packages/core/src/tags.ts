/** Tag keys Synkti sets at launch (docs/architecture.md invariant 2). All live under the `Synkti` prefix. */
export const TAG_PREFIX = 'Synkti';
export const TAG_CLUSTER = 'SynktiCluster';
export const TAG_ROLE = 'SynktiRole';
/** Set on a replacement: the id of the instance it replaces (makes replacement idempotent). */
export const TAG_REPLACES = 'SynktiReplaces';
/** Ports an instance's services listen on, where they differ from the cluster defaults (local provider). */
export const TAG_PORT_AGENT = 'SynktiPortAgent';
export const TAG_PORT_ROUTER = 'SynktiPortRouter';
export const TAG_PORT_WORKLOAD = 'SynktiPortWorkload';
/** Target group ARNs (space-separated) a node leaves at its notice and joins once ready. */
export const TAG_TARGET_GROUPS = 'SynktiTargetGroups';
/** The config generation the instance was launched with (configGeneration): set by `synkti deploy` on its surges. */
export const TAG_GENERATION = 'SynktiGeneration';

export function isSynktiTagKey(key: string): boolean {
  return key.startsWith(TAG_PREFIX);
}
