/**
 * What Elastic Load Balancing's error codes mean to a node leaving or joining a target
 * group: retry (throttling, a transient fault), done already (the target is not there),
 * or stop and say what to fix (a missing permission names the action and the group).
 * SDK v3 raises ELB's error code as the error's `name` (e.g. `TargetGroupNotFoundException`).
 */
import { SynktiError } from '@synkti/core';

const THROTTLE_CODES: ReadonlySet<string> = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
]);
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);
const PERMISSION_CODES: ReadonlySet<string> = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);
const CREDENTIAL_CODES: ReadonlySet<string> = new Set([
  'CredentialsProviderError',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);
const TARGET_GROUP_NOT_FOUND: ReadonlySet<string> = new Set(['TargetGroupNotFound', 'TargetGroupNotFoundException']);
const INVALID_TARGET: ReadonlySet<string> = new Set(['InvalidTarget', 'InvalidTargetException']);

/** The error code of an SDK error (a service exception's `name`), or a Node network code. */
export function elbErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { name?: unknown; Code?: unknown; code?: unknown };
  if (typeof e.Code === 'string' && e.Code !== '') return e.Code;
  if (typeof e.code === 'string' && e.code !== '' && (e.name === 'Error' || e.name === undefined)) return e.code;
  if (typeof e.name === 'string' && e.name !== '' && e.name !== 'Error') return e.name;
  return typeof e.code === 'string' ? e.code : undefined;
}

/** Throttling or a fault on AWS's side: worth another try after a backoff. */
export function isRetryableElbError(error: unknown): boolean {
  const code = elbErrorCode(error);
  if (code !== undefined && (THROTTLE_CODES.has(code) || TRANSIENT_CODES.has(code))) return true;
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' && (status >= 500 || status === 429);
}

export function isThrottleElbError(error: unknown): boolean {
  const code = elbErrorCode(error);
  return code !== undefined && THROTTLE_CODES.has(code);
}

/** DeregisterTargets of a target that is not in the group: there is nothing to leave. */
export function isInvalidTarget(error: unknown): boolean {
  const code = elbErrorCode(error);
  return code !== undefined && INVALID_TARGET.has(code);
}

/**
 * A SynktiError with a stable code naming the action, the target group and the fix.
 * `action` is the ELB API action, e.g. `DeregisterTargets`.
 */
export function toLoadBalancerError(action: string, targetGroupArn: string, error: unknown): SynktiError {
  if (error instanceof SynktiError) return error;
  const code = elbErrorCode(error) ?? 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const permission = `elasticloadbalancing:${action}`;
  if (PERMISSION_CODES.has(code)) {
    return new SynktiError('E_LB_PERMISSION', `not allowed to call ${permission} on ${targetGroupArn}: ${code}`, {
      cause: error,
      hint: `grant the worker role ${permission} on that target group ARN (SpotServeFleet does for its own target group; for another group add the statement, or remove the group from serve.loadBalancer / the SynktiTargetGroups tag)`,
    });
  }
  if (CREDENTIAL_CODES.has(code)) {
    return new SynktiError('E_AWS_CREDENTIALS', `cannot call ${permission}: AWS did not accept the credentials (${code})`, {
      cause: error,
      hint: 'the agent uses the instance profile: check that the instance has one and that its role may be assumed by ec2.amazonaws.com',
    });
  }
  if (TARGET_GROUP_NOT_FOUND.has(code)) {
    return new SynktiError('E_LB_TARGET_GROUP_NOT_FOUND', `target group ${targetGroupArn} does not exist (${permission})`, {
      cause: error,
      hint: 'fix serve.loadBalancer.targetGroupArns or the SynktiTargetGroups tag: the group was deleted or is in another region or account',
    });
  }
  if (INVALID_TARGET.has(code)) {
    return new SynktiError('E_LB_INVALID_TARGET', `${permission} on ${targetGroupArn} refused this node as a target: ${message}`, {
      cause: error,
      hint: "check serve.loadBalancer.targetType (an 'ip' group names nodes by private IP, an 'instance' group by instance id) and that the group is in the node's VPC",
    });
  }
  return new SynktiError('E_LB_API', `${permission} on ${targetGroupArn} failed: ${code}: ${message}`, {
    cause: error,
    hint: "retried while the drain budget allowed; the load balancer's health check takes the node out instead",
  });
}
