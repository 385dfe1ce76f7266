/**
 * How the code gets into the stacks' ECS tasks (docs/adr/0008-code-into-tasks.md): Docker's
 * official Node.js 20 image, whose entrypoint is the rendered task entrypoint — it fetches
 * the packed release `artifacts/synkti-<version>.tgz` from the artifacts bucket with the task
 * role, refuses it unless its SHA-256 is the one fixed here, and runs its `bin/synkti.mjs`
 * with the task's command. No registry, no image build: the checksum is what a deploy pins.
 */
import * as pulumi from '@pulumi/pulumi';
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
  const script = renderTaskEntrypoint({
    bucket: release.bucket,
    version: release.version,
    sha256: release.sha256,
    region,
    bucketOwner: release.bucketOwner,
  });
  return { image: STOCK_NODE_IMAGE, entryPoint: ['node', '--input-type=module', '-e', script] };
}

/** What the task role needs to fetch the release: GetObject on that one key. */
export function taskReleaseStatement(release: TaskReleaseArgs): PolicyStatementInput {
  return {
    Sid: 'FetchRelease',
    Effect: 'Allow',
    Action: 's3:GetObject',
    Resource: `arn:aws:s3:::${release.bucket}/${taskArtifactKey(release.version)}`,
  };
}

/** What a stack with neither `release` nor `image` is told (ADR 0008), naming the args and the fix. */
export function noReleaseMessage(component: string, name: string, tag: string): string {
  return (
    `${component} ${name}: neither release nor image is given, so its tasks run <its ECR repository>:${tag}, which is empty and cannot start a task ` +
    'until an image is pushed there. Pass release: { bucket, version, sha256 } (what `synkti bootstrap` prints: the stock Node.js image runs it, ' +
    "ADR 0008), or image: '<your image>'."
  );
}

/**
 * Said at every preview and up of a stack that makes its own ECR repository because it was
 * given neither `release` nor `image` (ADR 0008: the default stays, so audits, cost
 * estimates and role synthesis need no release; a deploy is told what will not start).
 */
export function warnWithoutRelease(component: string, name: string, tag: string, resource?: pulumi.Resource): void {
  void pulumi.log.warn(noReleaseMessage(component, name, tag), resource);
}
