/**
 * What an AWS API request is, read the way AWS reads it before authorizing: who signed it
 * (the access key in the SigV4 credential scope, from the `Authorization` header or a
 * presigned URL's `X-Amz-Credential`), for which service and region, and which operation
 * with which parameters, in each wire protocol the SDKs and the `aws` CLI speak:
 *
 * - query (EC2, IAM, STS, ELBv2, CloudWatch, old SQS): `Action=` and flat `A.1.B=` params
 *   in the form body or the URL;
 * - JSON (SSM, ECS, SQS, CloudWatch JSON): `X-Amz-Target: <Prefix>.<Operation>`, JSON body;
 * - Smithy RPC v2 CBOR (CloudWatch): `/service/<svc>/operation/<Operation>` (body not read);
 * - S3 REST: method, bucket, key and sub-resource query.
 */
export type AwsProtocol = 'query' | 'json' | 'cbor' | 's3';

export interface SignedBy {
  accessKeyId: string;
  /** `x-amz-security-token` (header or presigned query). */
  sessionToken: string | undefined;
  /** Region and service of the SigV4 credential scope. */
  region: string;
  service: string;
}

export interface AwsRequest {
  method: string;
  /** Signer, or undefined for an unsigned (anonymous) request. */
  signedBy: SignedBy | undefined;
  /** SigV4 service name (`ec2`, `s3`, `ssm`, `monitoring`, `elasticloadbalancing`...). */
  service: string;
  region: string;
  protocol: AwsProtocol;
  /** API operation (`RunInstances`, `GetParameter`); S3 operations are derived later. */
  operation: string;
  /** Query/form parameters (query protocol), flat. */
  params: Record<string, string>;
  /** JSON body (JSON protocol). */
  json: Record<string, unknown> | undefined;
  /** S3 path-style parts. */
  s3:
    | { bucket: string | undefined; key: string | undefined; query: URLSearchParams; headers: Record<string, string | undefined> }
    | undefined;
  /** Raw body (when it was read). */
  body: Buffer | undefined;
}

const CREDENTIAL_RE = /Credential=([^/\s,]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request/;

/** Percent-decoding that keeps a malformed escape as written instead of throwing. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The signer of a request, from the Authorization header or a presigned URL. */
export function signerOf(url: URL, headers: Record<string, string | string[] | undefined>): SignedBy | undefined {
  const authorization = header(headers, 'authorization');
  let match = authorization ? CREDENTIAL_RE.exec(authorization) : null;
  let token = header(headers, 'x-amz-security-token');
  if (!match) {
    const credential = url.searchParams.get('X-Amz-Credential');
    if (credential) match = CREDENTIAL_RE.exec(`Credential=${credential}`);
    token ??= url.searchParams.get('X-Amz-Security-Token') ?? undefined;
  }
  if (!match) return undefined;
  return { accessKeyId: match[1] as string, sessionToken: token, region: match[3] as string, service: match[4] as string };
}

/** Whether the proxy must buffer the body to know the operation (every protocol but S3 REST). */
export function needsBody(signedBy: SignedBy | undefined, url: URL, headers: Record<string, string | string[] | undefined>): boolean {
  if (signedBy) return signedBy.service !== 's3';
  // Unsigned: S3 when it does not look like a form or JSON call.
  const type = header(headers, 'content-type') ?? '';
  return /x-www-form-urlencoded|x-amz-json/.test(type) || url.searchParams.has('Action');
}

/**
 * Reads the operation and parameters. `body` is the full body for query/JSON protocols
 * (undefined for S3, whose body streams through unread, except a small DeleteObjects).
 */
export function parseAwsRequest(input: {
  method: string;
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | undefined;
}): AwsRequest {
  const { method, url, headers, body } = input;
  const signedBy = signerOf(url, headers);
  const service = signedBy?.service ?? (needsBody(undefined, url, headers) ? 'unknown' : 's3');
  const region = signedBy?.region ?? 'us-east-1';
  const base = { method, signedBy, service, region, body };
  const target = header(headers, 'x-amz-target');
  if (target) {
    let json: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = body && body.length > 0 ? JSON.parse(body.toString('utf8')) : {};
      json = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    } catch {
      json = {};
    }
    return { ...base, protocol: 'json', operation: target.slice(target.lastIndexOf('.') + 1), params: {}, json, s3: undefined };
  }
  const cbor = /^\/service\/[^/]+\/operation\/([A-Za-z0-9]+)$/.exec(url.pathname);
  if (cbor) return { ...base, protocol: 'cbor', operation: cbor[1] as string, params: {}, json: undefined, s3: undefined };
  if (service !== 's3') {
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    const type = header(headers, 'content-type') ?? '';
    if (body && body.length > 0 && (type === '' || type.includes('x-www-form-urlencoded'))) {
      for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
    }
    return { ...base, protocol: 'query', operation: params.Action ?? '', params, json: undefined, s3: undefined };
  }
  // S3, path style: /<bucket>/<key...>
  const path = url.pathname.replace(/^\/+/, '');
  const slash = path.indexOf('/');
  const bucket = path === '' ? undefined : decode(slash < 0 ? path : path.slice(0, slash));
  const rawKey = slash < 0 ? '' : path.slice(slash + 1);
  const key = rawKey === '' ? undefined : decode(rawKey);
  const s3Headers: Record<string, string | undefined> = {};
  for (const name of ['x-amz-copy-source', 'x-amz-server-side-encryption', 'x-amz-acl', 'x-amz-expected-bucket-owner'])
    s3Headers[name] = header(headers, name);
  return {
    ...base,
    protocol: 's3',
    operation: '',
    params: {},
    json: undefined,
    s3: { bucket, key, query: url.searchParams, headers: s3Headers },
  };
}

/** Values of a flat query list: `prefix.1`, `prefix.2`, ... in order. */
export function queryList(params: Record<string, string>, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; i <= 1000; i++) {
    const value = params[`${prefix}.${i}`];
    if (value === undefined) break;
    out.push(value);
  }
  return out;
}

/** Tags of a flat query list: `<prefix>.N.Key` / `<prefix>.N.Value`. */
export function queryTags(params: Record<string, string>, prefix: string): Array<{ key: string; value: string | undefined }> {
  const out: Array<{ key: string; value: string | undefined }> = [];
  for (let i = 1; i <= 1000; i++) {
    const key = params[`${prefix}.${i}.Key`];
    if (key === undefined) break;
    out.push({ key, value: params[`${prefix}.${i}.Value`] });
  }
  return out;
}
