/**
 * A node's model, from the cluster config to `{modelPath}`: which model (the spec's
 * `model.uri`, else SYNKTI_MODEL_URI from the boot script), where it goes on this node,
 * where it is read from, and the fetch itself, tried again after a failure (an upload
 * still in progress has no manifest yet) while the node stays not ready.
 */
import { join } from 'node:path';
import { SynktiError, parseModelUri, type ClusterSpec, type ModelLocation } from '@synkti/core';
import { LocalObjectStore } from '@synkti/cloud';
import { fetchModel, modelDirOf, type FetchModelOptions, type ModelProgress } from './model-fetcher.ts';
import { objectStoreModelSource, s3ModelSource, type ModelObjectSource } from './model-source.ts';

/** On EC2: under the agent's state directory (the unit's StateDirectory). */
export const WORKER_MODELS_DIR = '/var/lib/synkti/models';

/** The model this node serves: the spec's, else SYNKTI_MODEL_URI (set by the infra boot script). */
export function modelOf(spec: ClusterSpec, env: NodeJS.ProcessEnv = process.env): ModelLocation | undefined {
  if (spec.model) return spec.model;
  const fromEnv = env.SYNKTI_MODEL_URI?.trim();
  if (!fromEnv) return undefined;
  // The infra stack's modelS3Path names a directory of weights, with or without the final "/".
  return parseModelUri(fromEnv.endsWith('/') ? fromEnv : `${fromEnv}/`, 'SYNKTI_MODEL_URI');
}

/**
 * Where models go on this node: SYNKTI_MODELS_DIR; locally the instance's own directory
 * (`<state>/instances/<id>/models`); on EC2 `models/` under the unit's StateDirectory
 * (systemd's STATE_DIRECTORY, /var/lib/synkti), else /var/lib/synkti/models.
 */
export function defaultModelsDir(spec: ClusterSpec, instanceId: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.SYNKTI_MODELS_DIR) return env.SYNKTI_MODELS_DIR;
  if (spec.provider === 'local' && env.SYNKTI_LOCAL_STATE_DIR) return join(env.SYNKTI_LOCAL_STATE_DIR, 'instances', instanceId, 'models');
  // STATE_DIRECTORY first: systemd sets it from the unit, and an emulated machine maps it
  // into its own root (several machines on one host must not share one models directory).
  if (spec.provider === 'aws') return env.STATE_DIRECTORY ? join(env.STATE_DIRECTORY, 'models') : WORKER_MODELS_DIR;
  throw new SynktiError('E_AGENT_CONFIG', 'no directory for the model: SYNKTI_MODELS_DIR is not set', {
    hint: 'set SYNKTI_MODELS_DIR to a directory with room for the model',
  });
}

/**
 * Where the model is read from: S3 on aws (the default credential chain; AWS_ENDPOINT_URL
 * for an emulator); on the local cloud its file object store, unless an S3 endpoint is set.
 */
export function defaultModelSource(spec: ClusterSpec, model: ModelLocation, env: NodeJS.ProcessEnv = process.env): ModelObjectSource {
  const s3Endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (spec.provider === 'local' && !s3Endpoint && env.SYNKTI_LOCAL_STATE_DIR) {
    return objectStoreModelSource(new LocalObjectStore({ root: join(env.SYNKTI_LOCAL_STATE_DIR, 'objects') }), model.bucket);
  }
  return s3ModelSource({ bucket: model.bucket, region: spec.provider === 'aws' ? spec.region : env.AWS_REGION, endpoint: s3Endpoint });
}

export interface ModelDeliveryOptions extends Omit<FetchModelOptions, 'onProgress' | 'signal'> {
  /** First wait after a failed fetch, doubled up to `maxRetryDelayMs`. @default 30 s */
  retryDelayAfterFailureMs?: number | undefined;
  /** @default 5 minutes */
  maxRetryDelayAfterFailureMs?: number | undefined;
  onProgress?: ((progress: ModelProgress) => void) | undefined;
  onError?: ((error: unknown) => void) | undefined;
}

export class ModelDelivery {
  private readonly options: ModelDeliveryOptions;
  private readonly abort = new AbortController();
  private current: ModelProgress;
  private wake: (() => void) | undefined;
  /** How many fetches failed so far. */
  failures = 0;

  constructor(options: ModelDeliveryOptions) {
    this.options = options;
    this.current = {
      uri: options.model.uri,
      state: 'fetching',
      path: modelDirOf(options.modelsDir, options.model),
      files: 0,
      filesDone: 0,
      bytes: 0,
      bytesDone: 0,
      bytesFetched: 0,
      reused: false,
    };
  }

  /** What /status shows. */
  get progress(): ModelProgress {
    return this.current;
  }

  /**
   * Fetches until the model is in place and verified: the local path. Failures are
   * reported (progress, onError) and tried again later; undefined once stopped.
   */
  async ready(): Promise<string | undefined> {
    let delay = this.options.retryDelayAfterFailureMs ?? 30_000;
    while (!this.abort.signal.aborted) {
      try {
        const fetched = await fetchModel({ ...this.options, signal: this.abort.signal, onProgress: (p) => this.report(p) });
        return fetched.path;
      } catch (error) {
        if (this.abort.signal.aborted) return undefined;
        this.failures += 1;
        this.options.onError?.(error);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        timer.unref();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      delay = Math.min(delay * 2, this.options.maxRetryDelayAfterFailureMs ?? 300_000);
    }
    return undefined;
  }

  private report(progress: ModelProgress): void {
    // A retry starts over at 'fetching': keep the last error visible until it succeeds.
    const lastError = this.current.error;
    this.current = progress.state === 'fetching' && !progress.error && lastError ? { ...progress, error: lastError } : progress;
    this.options.onProgress?.(this.current);
  }

  /** Stops fetching (a drain, a shutdown); idempotent. */
  stop(): void {
    this.abort.abort();
    this.wake?.();
  }
}
