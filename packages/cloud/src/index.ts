export * from './types.ts';
export {
  startMetadataServer, formatImdsTime, type MetadataSource, type MetadataServerOptions, type MetadataServer,
} from './providers/local/metadata-server.ts';
export { createImdsClient, IMDS_DEFAULT_ENDPOINT, IMDS_ENDPOINT_ENV, type ImdsClientOptions } from './metadata/imds-client.ts';
