/**
 * The errors AWS answers when IAM says no, shaped per protocol so each caller fails the
 * way it would on AWS: EC2's `UnauthorizedOperation`, the query services' `AccessDenied`,
 * the JSON services' `AccessDeniedException`, S3's `AccessDenied`; and for a key the
 * account never issued or a session that expired, the matching credential errors.
 */
import { randomUUID } from 'node:crypto';
import type { AwsRequest } from './iam-request.ts';

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Just enough CBOR for `{ __type, message }` (Smithy RPC v2 CBOR errors). */
function cborTextMap(entries: Array<[string, string]>): Buffer {
  const head = (major: number, length: number): Buffer => {
    if (length < 24) return Buffer.from([(major << 5) | length]);
    if (length < 256) return Buffer.from([(major << 5) | 24, length]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(length, 1);
    return b;
  };
  const text = (s: string): Buffer => {
    const bytes = Buffer.from(s, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  };
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [text(k), text(v)])]);
}

interface ErrorSpec {
  /** HTTP status. */
  status: number;
  /** Code per protocol family. */
  ec2: string;
  query: string;
  json: string;
  s3: string;
  message: string;
}

function respond(req: AwsRequest, spec: ErrorSpec): ErrorResponse {
  const requestId = randomUUID();
  const base = { 'x-amzn-requestid': requestId };
  switch (req.protocol) {
    case 's3':
      return {
        status: spec.status,
        headers: { ...base, 'content-type': 'application/xml', 'x-amz-request-id': requestId },
        // HEAD answers carry no body (the SDK reads the status).
        body:
          req.method === 'HEAD'
            ? Buffer.alloc(0)
            : Buffer.from(
                `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${spec.s3}</Code><Message>${xmlEscape(spec.message)}</Message><RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`,
              ),
      };
    case 'json': {
      const headers: Record<string, string> = { ...base, 'content-type': 'application/x-amz-json-1.1' };
      // SQS (JSON 1.0 with query compatibility) also names the query code.
      if (req.service === 'sqs') headers['x-amzn-query-error'] = `${spec.query};Sender`;
      return { status: spec.status, headers, body: Buffer.from(JSON.stringify({ __type: spec.json, message: spec.message })) };
    }
    case 'cbor':
      return {
        status: spec.status,
        headers: { ...base, 'content-type': 'application/cbor', 'smithy-protocol': 'rpc-v2-cbor' },
        body: cborTextMap([
          ['__type', spec.json],
          ['message', spec.message],
        ]),
      };
    case 'query':
      if (req.service === 'ec2') {
        return {
          status: spec.status,
          headers: { ...base, 'content-type': 'text/xml;charset=UTF-8' },
          body: Buffer.from(
            `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${spec.ec2}</Code><Message>${xmlEscape(spec.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
          ),
        };
      }
      return {
        status: spec.status,
        headers: { ...base, 'content-type': 'text/xml' },
        body: Buffer.from(
          `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>${spec.query}</Code><Message>${xmlEscape(spec.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
        ),
      };
  }
}

/** AWS's answer to a call IAM denied, naming the principal, action and resource as AWS does. */
export function accessDenied(req: AwsRequest, principalArn: string, action: string, resource: string, reason: string): ErrorResponse {
  const because = reason.startsWith('explicit') ? `with an ${reason}` : `because ${reason}`;
  const what = `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource} ${because}`;
  return respond(req, {
    status: 403,
    ec2: 'UnauthorizedOperation',
    query: 'AccessDenied',
    json: 'AccessDeniedException',
    s3: 'AccessDenied',
    message: req.service === 'ec2' ? `You are not authorized to perform this operation. ${what}` : what,
  });
}

/** A key the account never issued (or an unsigned call to a service that needs a signature). */
export function unknownAccessKey(req: AwsRequest): ErrorResponse {
  if (req.protocol === 's3') {
    return respond(req, {
      status: 403,
      ec2: '',
      query: '',
      json: '',
      s3: req.signedBy ? 'InvalidAccessKeyId' : 'AccessDenied',
      message: req.signedBy ? 'The AWS Access Key Id you provided does not exist in our records.' : 'Access Denied',
    });
  }
  return respond(req, {
    status: req.service === 'ec2' ? 401 : req.protocol === 'query' ? 403 : 400,
    ec2: 'AuthFailure',
    query: 'InvalidClientTokenId',
    json: 'UnrecognizedClientException',
    s3: 'InvalidAccessKeyId',
    message:
      req.service === 'ec2'
        ? 'AWS was not able to validate the provided access credentials'
        : 'The security token included in the request is invalid.',
  });
}

/** A session whose credentials expired (or whose token does not match its key). */
export function expiredToken(req: AwsRequest): ErrorResponse {
  return respond(req, {
    status: req.protocol === 's3' ? 400 : req.service === 'ec2' ? 400 : 400,
    ec2: 'RequestExpired',
    query: 'ExpiredToken',
    json: 'ExpiredTokenException',
    s3: 'ExpiredToken',
    message: 'The security token included in the request is expired',
  });
}
