export { SynktiError, isSynktiError } from './errors.ts';
export { parseDuration, formatDuration, isDurationText } from './duration.ts';
export {
  TAG_PREFIX, TAG_CLUSTER, TAG_ROLE, TAG_REPLACES, TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD, isSynktiTagKey,
} from './tags.ts';
export { rendezvousScore, rendezvousRank, rendezvousPick } from './rendezvous.ts';
