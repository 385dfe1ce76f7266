/**
 * `@synkti/tasks/pipelines-api`: the pipelines REST API app (Hono) and its API keys. A
 * separate entry so agents that import `@synkti/tasks` load no HTTP framework.
 */
export { createPipelineApi, type PipelineApiOptions } from './api-app.ts';
export { ApiKeyring, API_KEYS_ENV, loadApiKeys, parseApiKeys, type ApiKeyEntry } from './api-keys.ts';
export { pipelineOpenApi } from './openapi.ts';
