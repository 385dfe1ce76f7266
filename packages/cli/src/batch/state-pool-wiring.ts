/**
 * The CLI's state pools: @synkti/tasks/batch's uploadStatePool and fetchStatePool with what
 * tasks cannot import bound in (both sit above it): @synkti/infra/bootstrap's model upload
 * and @synkti/agent's checked model fetcher reading S3. Each is loaded only when used.
 */
import {
  fetchStatePool,
  uploadStatePool,
  type FetchStatePoolOptions,
  type StatePool,
  type UploadStatePoolOptions,
} from '@synkti/tasks/batch';
import type { ModelObjectSource } from '@synkti/agent';
import type { ModelUploadProgress, ModelUploadReport } from '@synkti/infra/bootstrap';

/** Uploads a directory as a state pool with `synkti model upload`'s code (same manifest format). */
export async function uploadStatePoolToS3(
  options: Omit<UploadStatePoolOptions<ModelUploadReport, ModelUploadProgress>, 'upload'>,
): Promise<ModelUploadReport> {
  const { uploadModel } = await import('@synkti/infra/bootstrap');
  return uploadStatePool({ ...options, upload: uploadModel });
}

export interface FetchStatePoolFromS3Options extends Omit<FetchStatePoolOptions, 'fetchModel'> {
  /** Where the objects come from. @default S3 (the SDK's endpoint and credentials: the task role) */
  source?: ModelObjectSource | undefined;
  region?: string | undefined;
}

/** A pool read with the agent's model fetcher: every file's SHA-256 checked, a second read served from the cache. */
export async function fetchStatePoolFromS3(options: FetchStatePoolFromS3Options): Promise<StatePool> {
  const { fetchModel, s3ModelSource } = await import('@synkti/agent');
  const source = options.source ?? s3ModelSource({ bucket: options.bucket, region: options.region });
  return fetchStatePool({ ...options, fetchModel: (read) => fetchModel({ ...read, source }) });
}
