// Conformance suites register node:test tests, so they live behind their own entry
// point (`@synkti/cloud/conformance`) and never load into a running agent.
export { runMetadataConformance, type MetadataConformanceFixture } from './metadata.ts';
export { runInstanceProviderConformance } from './instances.ts';
export { runObjectStoreConformance } from './object-store.ts';
