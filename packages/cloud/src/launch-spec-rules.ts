/**
 * The checks every instance provider makes on a launch spec and on tags, with EC2's rules:
 * the local cloud accepts exactly what EC2 accepts (a spec that launches locally launches
 * on AWS). Providers add only what is their own (AWS: the instance type's form; local: the
 * zone must be one of its zones).
 */
import { SynktiError, TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { MAX_USER_DATA_BYTES } from './boot/user-data-format.ts';
import type { LaunchSpec } from './types.ts';

/** Tag keys readable from instance metadata: letters, digits and + - = . , _ : @ (no spaces or '/'). */
const METADATA_TAG_KEY = /^[A-Za-z0-9+\-=.,_:@]+$/;
/** EC2's ClientToken: 1 to 64 printable ASCII characters. */
const CLIENT_TOKEN = /^[\x21-\x7e]{1,64}$/;
/** EC2 allows 50 tags per resource. */
const MAX_TAGS = 50;

function launchError(message: string, hint: string): SynktiError {
  return new SynktiError('E_LAUNCH_SPEC', message, { hint });
}

/** EC2's tag limits plus the metadata-tag key rule (instance tags are readable from IMDS); `code` and `what` name the caller's input. */
export function checkTags(tags: unknown, code: string, what: string): Record<string, string> {
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) {
    throw new SynktiError(code, `${what}: tags must be an object of string values`, { hint: 'pass tags like { SynktiCluster: "demo" }' });
  }
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) {
    throw new SynktiError(code, `${what}: ${entries.length} tags, EC2 allows ${MAX_TAGS} per resource`, {
      hint: 'keep fewer tags; store the rest in the object store',
    });
  }
  for (const [key, value] of entries) {
    if (typeof value !== 'string') {
      throw new SynktiError(code, `${what}: tag ${key} has a ${typeof value} value`, {
        hint: 'tag values are strings: convert numbers with String()',
      });
    }
    if (
      key.length === 0 ||
      key.length > 128 ||
      key.toLowerCase().startsWith('aws:') ||
      !METADATA_TAG_KEY.test(key) ||
      key === '.' ||
      key === '..'
    ) {
      throw new SynktiError(code, `${what}: tag key "${key}" is not allowed`, {
        hint: 'tag keys have 1 to 128 of A-Z a-z 0-9 + - = . , _ : @ (instance tags are read from metadata, which allows no spaces or "/") and do not start with "aws:"',
      });
    }
    if (value.length > 256) {
      throw new SynktiError(code, `${what}: the value of tag ${key} is longer than 256 characters`, {
        hint: 'store long values in the object store and tag a reference',
      });
    }
  }
  return tags as Record<string, string>;
}

/**
 * The provider-independent checks of a launch spec (EC2's rules): an object, tags with the
 * cluster and role set at launch, the lifecycle, zone and zone order, user data within
 * 16 KiB, a ClientToken of 1 to 64 printable ASCII characters. Returns the checked tags.
 */
export function checkLaunchSpec(spec: LaunchSpec): Record<string, string> {
  if (typeof spec !== 'object' || spec === null)
    throw launchError('launch spec must be an object', 'pass { tags, instanceType, lifecycle }');
  const tags = checkTags(spec.tags, 'E_LAUNCH_SPEC', 'launch spec');
  for (const key of [TAG_CLUSTER, TAG_ROLE]) {
    if (!tags[key]) {
      throw launchError(
        `launch spec is missing the tag ${key}`,
        `set tags.${TAG_CLUSTER} and tags.${TAG_ROLE} in the launch spec: tags are set at launch, never added later`,
      );
    }
  }
  if (spec.lifecycle !== 'spot' && spec.lifecycle !== 'on-demand') {
    throw launchError(
      `launch spec lifecycle must be "spot" or "on-demand", not ${JSON.stringify(spec.lifecycle)}`,
      'set lifecycle: "spot"',
    );
  }
  if (spec.zone !== undefined && (typeof spec.zone !== 'string' || spec.zone === '')) {
    throw launchError('launch spec zone must be an availability zone name', 'e.g. "us-east-1a", or omit zone');
  }
  if (
    spec.zoneOrder !== undefined &&
    (!Array.isArray(spec.zoneOrder) || spec.zoneOrder.length > 64 || spec.zoneOrder.some((z) => typeof z !== 'string' || z === ''))
  ) {
    throw launchError(
      'launch spec zoneOrder must be a list of at most 64 availability zone names',
      'e.g. ["us-east-1b", "us-east-1a"] (placementZoneOrder), or omit it',
    );
  }
  if (spec.userData !== undefined && (typeof spec.userData !== 'string' || Buffer.byteLength(spec.userData) > MAX_USER_DATA_BYTES)) {
    throw launchError(
      'launch spec userData must be a string of at most 16 KiB',
      'put large boot data in the object store and pass its key',
    );
  }
  if (spec.clientToken !== undefined && (typeof spec.clientToken !== 'string' || !CLIENT_TOKEN.test(spec.clientToken))) {
    throw launchError(
      "launch spec clientToken must be 1 to 64 printable ASCII characters (EC2's rule)",
      'derive it from what makes the launch unique, e.g. the id being replaced',
    );
  }
  return tags;
}
