/** The OpenAPI 3.1 description of the pipelines API (served at /openapi.json). */

const error = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: error } } });
const jobId = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };

export function pipelineOpenApi(pipelines: string[]): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Synkti pipelines API',
      version: '1',
      description: 'Submit multi-stage jobs to typed agent pools, watch them, get their results.',
    },
    security: [{ bearer: [] }, { apiKey: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                issues: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
              },
            },
          },
        },
        JobSubmission: {
          type: 'object',
          required: ['pipeline'],
          additionalProperties: false,
          properties: {
            pipeline: { type: 'string', enum: pipelines },
            input: { description: "the pipeline's input (checked by the pipeline)" },
            priority: { type: 'integer', minimum: -1000, maximum: 1000, default: 0 },
          },
        },
        Job: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            pipeline: { type: 'string' },
            owner: { type: 'string' },
            stream: { type: 'string', enum: ['reserved', 'best-effort'] },
            priority: { type: 'integer' },
            state: { type: 'string', enum: ['running', 'done', 'failed', 'cancelled'] },
            error: { type: ['string', 'null'] },
            openTasks: { type: 'integer' },
            createdAt: { type: 'string', format: 'date-time' },
            finishedAt: { type: ['string', 'null'], format: 'date-time' },
            resultRef: { type: ['string', 'null'], description: 'object-store key of a big result (GET /v1/jobs/{id}/result serves it)' },
            stages: {
              type: 'object',
              additionalProperties: { type: 'object', additionalProperties: { type: 'integer' } },
              description: 'task counts by stage and state',
            },
            result: { description: 'the result when kept inline' },
          },
        },
      },
    },
    paths: {
      '/v1/jobs': {
        post: {
          summary: 'Submit a job',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/JobSubmission' } } } },
          responses: {
            201: {
              description: 'created',
              content: { 'application/json': { schema: { type: 'object', properties: { job: { $ref: '#/components/schemas/Job' } } } } },
            },
            400: errorResponse('invalid JSON, fields, pipeline or input'),
            401: errorResponse('missing or bad API key'),
            413: errorResponse('body over the limit'),
            415: errorResponse('not JSON'),
            429: errorResponse('too many unfinished jobs for this owner'),
          },
        },
        get: {
          summary: 'List jobs (newest first)',
          parameters: [
            { name: 'state', in: 'query', schema: { type: 'string', enum: ['running', 'done', 'failed', 'cancelled'] } },
            { name: 'pipeline', in: 'query', schema: { type: 'string' } },
            { name: 'owner', in: 'query', schema: { type: 'string' }, description: 'admin keys only' },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
            {
              name: 'before',
              in: 'query',
              schema: { type: 'string', format: 'uuid' },
              description: 'cursor: the last id of the previous page',
            },
          ],
          responses: { 200: { description: 'jobs' }, 400: errorResponse('bad query'), 401: errorResponse('missing or bad API key') },
        },
      },
      '/v1/jobs/{id}': {
        get: {
          summary: 'A job, with per-stage task counts',
          parameters: [jobId],
          responses: { 200: { description: 'the job' }, 400: errorResponse('bad id'), 404: errorResponse('no such job') },
        },
        delete: {
          summary: 'Cancel a job',
          parameters: [jobId],
          responses: { 200: { description: 'cancelled' }, 404: errorResponse('no such job'), 409: errorResponse('already finished') },
        },
      },
      '/v1/jobs/{id}/cancel': {
        post: {
          summary: 'Cancel a job',
          parameters: [jobId],
          responses: { 200: { description: 'cancelled' }, 404: errorResponse('no such job'), 409: errorResponse('already finished') },
        },
      },
      '/v1/jobs/{id}/result': {
        get: {
          summary: "A done job's result",
          parameters: [jobId],
          responses: { 200: { description: '{ result }' }, 404: errorResponse('no such job'), 409: errorResponse('not done') },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text exposition format' } } } },
      '/health': { get: { summary: 'Liveness', security: [], responses: { 200: { description: 'ok' } } } },
      '/openapi.json': { get: { summary: 'This description', security: [], responses: { 200: { description: 'OpenAPI 3.1' } } } },
    },
  };
}
