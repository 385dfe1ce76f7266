/**
 * `@synkti/tasks/pipelines-api`: the pipelines REST API app (Hono), its API keys and its
 * Node server (startPipelineApiServer). A
 * separate entry so agents that import `@synkti/tasks` load no HTTP framework.
 */
export { createPipelineApi, type PipelineApiOptions } from './api-app.ts';
export { ApiKeyring, API_KEYS_ENV, loadApiKeys, parseApiKeys, type ApiKeyEntry } from './api-keys.ts';
export { pipelineOpenApi } from './openapi.ts';
export { startPipelineApiServer, type PipelineApiServerOptions, type RunningPipelineApi } from './api-server.ts';
