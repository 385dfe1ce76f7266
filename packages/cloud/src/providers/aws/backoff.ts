/** The backoff formula lives in @synkti/core/backoff; re-exported for the AWS clients that import it here. */
export {
  backoffCeilingMs,
  fullJitterDelayMs,
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_BACKOFF_CAP_MS,
  type BackoffOptions,
} from '@synkti/core/backoff';
