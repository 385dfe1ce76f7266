/**
 * What EC2's error codes mean to us: retry (throttling, a transient fault), fall back
 * to another instance type or zone (capacity), or stop and tell the person what to fix
 * (a missing permission names the action; missing credentials say where the chain looks).
 * SDK v3 raises EC2's `<Code>` as the error's `name`.
 */
import { SynktiError } from '@synkti/core';

export const THROTTLE_CODES: ReadonlySet<string> = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
]);

/** Faults on EC2's side that a retry can cure; RunInstances is safe to repeat with its ClientToken. */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);

/**
 * No capacity for this instance type, market or zone right now: try the next option.
 * `Unsupported` is a type not offered in the chosen zone; `InsufficientFreeAddressesInSubnet`
 * a full subnet; the spot and vCPU quota codes may still leave another family or on-demand.
 */
export const CAPACITY_CODES: ReadonlySet<string> = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'UnfulfillableCapacity',
  'SpotMaxPriceTooLow',
  'Unsupported',
  'capacity-not-available',
  'InsufficientFreeAddressesInSubnet',
  'MaxSpotInstanceCountExceeded',
  'VcpuLimitExceeded',
  'InstanceLimitExceeded',
]);

export const NOT_FOUND_CODES: ReadonlySet<string> = new Set(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed']);

export const PERMISSION_CODES: ReadonlySet<string> = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException']);

export const CREDENTIAL_CODES: ReadonlySet<string> = new Set([
  'CredentialsProviderError',
  'AuthFailure',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'OptInRequired',
]);

export const CREDENTIALS_HINT =
  'credentials come from the standard AWS chain: set AWS_PROFILE (run `aws sso login` for an SSO profile), ' +
  'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), ' +
  'or run on an instance, container or function with a role attached';

/** EC2's error code of an SDK error (the `name` of a service exception), or a Node network code. */
export function ec2ErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { name?: unknown; Code?: unknown; code?: unknown; $metadata?: unknown };
  if (typeof e.Code === 'string' && e.Code !== '') return e.Code;
  // A network failure carries its errno code; the SDK wraps some of them with name 'Error'.
  if (typeof e.code === 'string' && e.code !== '' && (e.name === 'Error' || e.name === undefined)) return e.code;
  if (typeof e.name === 'string' && e.name !== '' && e.name !== 'Error') return e.name;
  return typeof e.code === 'string' ? e.code : undefined;
}

export function ec2ErrorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function isThrottle(error: unknown): boolean {
  const code = ec2ErrorCode(error);
  return code !== undefined && THROTTLE_CODES.has(code);
}

export function isTransient(error: unknown): boolean {
  const code = ec2ErrorCode(error);
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true;
  // An HTTP 5xx the SDK could not name is EC2 having a bad moment.
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 500 && (code === undefined || !CAPACITY_CODES.has(code));
}

export function isCapacity(error: unknown): boolean {
  const code = ec2ErrorCode(error);
  return code !== undefined && CAPACITY_CODES.has(code);
}

export function isNotFound(error: unknown): boolean {
  const code = ec2ErrorCode(error);
  return code !== undefined && NOT_FOUND_CODES.has(code);
}

/** Instance ids EC2 names in a not-found message ("The instance IDs 'i-1, i-2' do not exist"). */
export function idsInMessage(message: string): string[] {
  return [...new Set(message.match(/\bi-[0-9a-zA-Z]+\b/g) ?? [])];
}

/** The encoded authorization failure message EC2 appends to UnauthorizedOperation, if any. */
export function encodedAuthorizationMessage(message: string): string | undefined {
  const match = /Encoded authorization failure message:\s*(\S+)/.exec(message);
  return match?.[1];
}

/** The IAM action an AccessDenied-style message names ("… is not authorized to perform: iam:PassRole …"), if any. */
function deniedActionInMessage(message: string): string | undefined {
  const match = /not authorized to perform:?\s+([a-z0-9-]+:[A-Za-z0-9*]+)/.exec(message);
  return match?.[1];
}

/**
 * Maps an error that is not retried or handled by the caller to a SynktiError with a
 * stable code; `action` is the EC2 API action, e.g. `RunInstances`.
 */
export function toSynktiError(action: string, error: unknown): SynktiError {
  if (error instanceof SynktiError) return error;
  const code = ec2ErrorCode(error);
  const message = ec2ErrorMessage(error);
  const permission = `ec2:${action}`;
  if (code !== undefined && PERMISSION_CODES.has(code)) {
    const denied = deniedActionInMessage(message) ?? permission;
    const encoded = encodedAuthorizationMessage(message);
    const extra =
      action === 'RunInstances'
        ? ' (launching also needs ec2:CreateTags for tags at launch, and iam:PassRole on the instance profile)'
        : '';
    const decode = encoded
      ? `; for the full reason run: aws sts decode-authorization-message --encoded-message ${encoded}`
      : '; when EC2 returns an encoded authorization message, `aws sts decode-authorization-message --encoded-message <message>` explains it';
    return new SynktiError(
      'E_AWS_PERMISSION',
      `not allowed to call ${denied}${denied === permission ? '' : ` (needed by ${permission})`}: ${code}`,
      {
        cause: error,
        hint: `add ${denied} to the IAM role or policy of these credentials${extra}${decode}`,
      },
    );
  }
  if (code !== undefined && CREDENTIAL_CODES.has(code)) {
    const what =
      code === 'CredentialsProviderError' ? 'no AWS credentials were found' : `AWS did not accept the credentials (${code}: ${message})`;
    return new SynktiError('E_AWS_CREDENTIALS', `cannot call ${permission}: ${what}`, { cause: error, hint: CREDENTIALS_HINT });
  }
  if (/Region is missing/i.test(message)) {
    return new SynktiError('E_AWS_REGION', `cannot call ${permission}: no AWS region is set`, {
      cause: error,
      hint: 'pass the region option, or set AWS_REGION (or a region in your AWS profile)',
    });
  }
  if (code !== undefined && THROTTLE_CODES.has(code)) {
    return new SynktiError('E_AWS_THROTTLED', `${permission} was still throttled (${code}) after every retry`, {
      cause: error,
      hint: "the account's EC2 API budget is spent by other callers too: lower apiBudgetShare here or call less often elsewhere",
    });
  }
  return new SynktiError('E_AWS_EC2', `${permission} failed${code ? ` with ${code}` : ''}: ${message}`, {
    cause: error,
    hint: 'see the cause; EC2 error codes are listed in the EC2 API reference ("Error codes")',
  });
}
