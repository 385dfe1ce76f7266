/**
 * `model.uri` of a cluster: `s3://<bucket>/<prefix>/`, the place `synkti model upload`
 * put a model (its files and, last, its manifest). Every node fetches it to local disk
 * before its workload starts.
 */
import { SynktiError } from './errors.ts';

export interface ModelLocation {
  /** The URI as written, e.g. `s3://acme-models/models/qwen2.5-7b/`. */
  uri: string;
  bucket: string;
  /** Key prefix, ending with "/". */
  prefix: string;
  /** The prefix's last segment: the model's directory name on a node. */
  name: string;
}

export const MODEL_URI_EXAMPLE = 's3://my-fleet-models/models/qwen2.5-7b/';

// Prefix segments a node also uses as a directory name: plain, portable characters only.
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+=@-]{0,127}$/;

function bucketProblem(bucket: string): string | undefined {
  if (bucket.length < 3 || bucket.length > 63) return 'must have 3 to 63 characters';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket))
    return 'may use only lowercase letters, digits, "." and "-", and must start and end with a letter or digit';
  if (bucket.includes('..')) return 'must not contain ".."';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return 'must not look like an IP address';
  if (bucket.startsWith('xn--') || bucket.endsWith('-s3alias')) return 'uses a reserved prefix or suffix';
  return undefined;
}

/** What is wrong with a model URI, or undefined when it is valid. */
export function modelUriProblem(uri: unknown): string | undefined {
  if (typeof uri !== 'string') return 'must be text like s3://<bucket>/<prefix>/';
  if (uri.length > 1024) return 'is longer than 1024 characters';
  const match = /^s3:\/\/([^/]*)\/(.*)$/.exec(uri);
  if (!match) return `${JSON.stringify(uri)} is not an s3://<bucket>/<prefix>/ URI`;
  const [, bucket, prefix] = match as unknown as [string, string, string];
  const bad = bucketProblem(bucket);
  if (bad) return `bucket name ${JSON.stringify(bucket)} ${bad}`;
  if (prefix === '') return 'names a bucket but no prefix: the model must be under a prefix';
  if (!prefix.endsWith('/')) return `prefix ${JSON.stringify(prefix)} must end with "/"`;
  const segments = prefix.slice(0, -1).split('/');
  const wrong = segments.find((s) => !SEGMENT.test(s));
  if (wrong !== undefined)
    return `prefix segment ${JSON.stringify(wrong)} must be letters, digits, ".", "_", "-" (not "." or "..", at most 128)`;
  return undefined;
}

/** Parses a model URI; throws E_CONFIG_INVALID naming `field` with a hint. */
export function parseModelUri(uri: string, field = 'model.uri'): ModelLocation {
  const problem = modelUriProblem(uri);
  if (problem)
    throw new SynktiError('E_CONFIG_INVALID', `${field}: ${problem}`, {
      hint: `e.g. ${MODEL_URI_EXAMPLE} (where \`synkti model upload\` put the model)`,
    });
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const prefix = rest.slice(slash + 1);
  const segments = prefix.slice(0, -1).split('/');
  return { uri, bucket: rest.slice(0, slash), prefix, name: segments[segments.length - 1]! };
}
