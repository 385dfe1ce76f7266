/**
 * How the code gets into the stacks' ECS tasks (docs/adr/0008-code-into-tasks.md): Docker's
 * official Node.js 20 image, whose entrypoint is the rendered task entrypoint — it fetches
 * the packed release `artifacts/synkti-<version>.tgz` from the artifacts bucket with the task
 * role, refuses it unless its SHA-256 is the one fixed here, and runs its `bin/synkti.mjs`
 * with the task's command. No registry, no image build: the checksum is what a deploy pins.
 */
import { renderTaskEntrypoint, taskArtifactKey } from '@synkti/cloud';
import type { PolicyStatementInput } from './iam-policy.ts';

/** Docker's official Node.js 20 image, from its public ECR mirror (no Docker Hub pull limits on Fargate). */
export const STOCK_NODE_IMAGE = 'public.ecr.aws/docker/library/node:20';

export interface TaskReleaseArgs {
  /** The artifacts bucket (what `synkti bootstrap` uploads the release to: `<project>-models-<account>`). */
  bucket: string;
  /** The release: the object `artifacts/synkti-<version>.tgz`. */
  version: string;
  /** SHA-256 of that object (64 hex digits; `synkti bootstrap` prints it). */
  sha256: string;
  /** Account that must own the bucket. @default no check */
  bucketOwner?: string | undefined;
}

export interface TaskReleaseContainer {
  image: string;
  /**
   * `node --input-type=module -e <entrypoint>`: the container's command follows as
   * process.argv[1..], and the entrypoint hands argv[2..] to the release's CLI, so the
   * command must be the CLI as typed (`synkti batch worker`, `synkti agent`).
   */
  entryPoint: string[];
}

/** Image and entryPoint of a task that runs `release` (throws SynktiError naming a bad field). */
export function taskReleaseContainer(release: TaskReleaseArgs, region: string): TaskReleaseContainer {
  const script = renderTaskEntrypoint({ bucket: release.bucket, version: release.version, sha256: release.sha256, region, bucketOwner: release.bucketOwner });
  return { image: STOCK_NODE_IMAGE, entryPoint: ['node', '--input-type=module', '-e', script] };
}

/** What the task role needs to fetch the release: GetObject on that one key. */
export function taskReleaseStatement(release: TaskReleaseArgs): PolicyStatementInput {
  return { Sid: 'FetchRelease', Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${release.bucket}/${taskArtifactKey(release.version)}` };
}
