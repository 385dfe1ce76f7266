export * from './types.ts';
export {
  startMetadataServer, formatImdsTime, type MetadataSource, type MetadataServerOptions, type MetadataServer,
} from './providers/local/metadata-server.ts';
export { createImdsClient, IMDS_DEFAULT_ENDPOINT, IMDS_ENDPOINT_ENV, type ImdsClientOptions } from './metadata/imds-client.ts';
export { createLocalCloud, type LocalCloud } from './providers/local/local-cloud.ts';
export { LocalInstanceProvider, DEFAULT_ZONES, DEFAULT_PORT_TAGS, type LocalCloudOptions, type PreemptOptions } from './providers/local/local-instance-provider.ts';
export { LocalObjectStore, validateBucketName, validateObjectKey, type LocalObjectStoreOptions } from './providers/local/local-object-store.ts';
export { REASON_USER_SHUTDOWN, REASON_SPOT, REASON_CRASH } from './providers/local/instance-host.ts';
export { parseChaosRate, chaosStrikes, type ChaosSettings } from './providers/local/chaos.ts';
