/**
 * Names bootstrap derives from `--project`, and the checks that say which flag is wrong.
 *
 * Buckets (when the infrastructure stack does not name them in its outputs):
 *   <project>-models        permanent: agent artifacts under artifacts/, weights under models/
 *   <project>-checkpoints   checkpoints (ephemeral data)
 * The Pulumi stack (SpotServeFleet) names its buckets itself (`<project>-models-<account>`,
 * `<project>-checkpoints-…`): after an infra step those outputs win; `--bucket` wins over both.
 */
import { SynktiError } from '@synkti/core';
import { validateBucketName } from '@synkti/cloud';

/** The cluster name rule (it becomes tags, bucket names and the Pulumi stack name). */
const PROJECT_NAME = /^[a-z][a-z0-9-]{1,39}$/;

/** Prefix weights live under (the worker role may read only models/ and artifacts/). */
export const MODELS_KEY_PREFIX = 'models/';

export function checkProjectName(project: string | undefined): string {
  if (project === undefined || project === '') {
    throw new SynktiError('E_USAGE', '--project is required', {
      hint: 'e.g. --project my-prod (2-40 lowercase letters, digits or dashes)',
    });
  }
  if (!PROJECT_NAME.test(project) || project.endsWith('-')) {
    throw new SynktiError(
      'E_USAGE',
      `--project ${JSON.stringify(project)} must be 2-40 lowercase letters, digits or dashes, starting with a letter`,
      {
        hint: 'it becomes the SynktiCluster tag and part of bucket names, e.g. --project my-prod',
      },
    );
  }
  return project;
}

export interface BucketNames {
  /** Artifacts (artifacts/) and model weights (models/); protected. */
  models: string;
  checkpoints: string;
}

export function defaultBucketNames(project: string): BucketNames {
  return { models: `${project}-models`, checkpoints: `${project}-checkpoints` };
}

/** A bucket name from a flag: invalid names are a usage error naming the flag. */
export function checkBucketFlag(value: string, flag: string): string {
  try {
    validateBucketName(value);
  } catch (error) {
    throw new SynktiError('E_USAGE', `${flag}: ${(error as Error).message}`, {
      cause: error,
      hint: 'S3 bucket names are 3-63 lowercase letters, digits, dots and dashes, e.g. acme-prod-models',
    });
  }
  return value;
}

/**
 * `models/<name>/` from a flag or the directory's name; must stay under models/ (or under
 * `root`: batch state pools use the same manifest format under state-pools/).
 */
export function modelPrefix(value: string | undefined, dirName: string, root = MODELS_KEY_PREFIX): string {
  const raw = value ?? `${root}${dirName}`;
  const prefix = raw.endsWith('/') ? raw : `${raw}/`;
  const rest = prefix.slice(root.length);
  if (
    !prefix.startsWith(root) ||
    rest === '/' ||
    rest === '' ||
    prefix.split('/').some((p) => p === '..' || p === '.') ||
    prefix.includes('//')
  ) {
    throw new SynktiError('E_USAGE', `--prefix ${JSON.stringify(raw)} must be a key prefix under ${root}, e.g. ${root}qwen2.5-7b`, {
      hint:
        root === MODELS_KEY_PREFIX
          ? `workers may read only ${MODELS_KEY_PREFIX} and artifacts/ of the models bucket`
          : `workers may read only ${root} of the bucket`,
    });
  }
  return prefix;
}

/** An SSM parameter path (the rule the boot script's renderer applies), refused naming its source. */
export function checkSecretParameter(value: string, flag = '--secret-parameter'): string {
  if (!/^\/[A-Za-z0-9_.\-/]{1,1010}$/.test(value) || value.includes('//') || value.endsWith('/')) {
    throw new SynktiError('E_USAGE', `${flag} ${JSON.stringify(value)} is not an SSM parameter path`, {
      hint: 'use a path such as /synkti/my-prod/cluster-secret',
    });
  }
  return value;
}

/** A KMS key id, key ARN, alias name or alias ARN. */
export function checkKmsKeyId(value: string): string {
  const ok =
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value) ||
    /^mrk-[0-9a-f]{32}$/i.test(value) ||
    /^alias\/[A-Za-z0-9/_-]{1,250}$/.test(value) ||
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key\/[A-Za-z0-9-]+|alias\/[A-Za-z0-9/_-]+)$/.test(value);
  if (!ok) {
    throw new SynktiError('E_USAGE', `--kms-key-id ${JSON.stringify(value)} is not a KMS key id, key ARN or alias`, {
      hint: 'e.g. --kms-key-id alias/synkti or arn:aws:kms:us-east-1:123456789012:key/…',
    });
  }
  return value;
}

/** The region of a KMS key ARN (`arn:aws:kms:<region>:<account>:key/<id>`); undefined for a key id or an alias. */
export function kmsKeyArnRegion(value: string): string | undefined {
  return /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key\/[A-Za-z0-9-]+$/.exec(value)?.[1];
}
