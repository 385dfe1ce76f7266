/**
 * The IAM-checking front door of the emulated AWS: an HTTP server on loopback in front of
 * moto_server. Every caller (an agent's SDK, the boot script's `aws` CLI, the CLI) signs
 * with role-session credentials; for each request the proxy finds the principal from the
 * access key, derives the IAM authorizations AWS would make (iam-actions.ts), evaluates
 * them against the role's policies as moto holds them (iam-policies.ts) with iam-simulate
 * (iam-evaluate.ts), and either forwards the request to moto unchanged or answers the
 * AccessDenied AWS would (iam-errors.ts). Administrator keys (the test harness, the
 * instance emulator's own polling) pass through uncounted.
 *
 * Why a proxy rather than moto's own enforcement (INITIAL_NO_AUTH_ACTION_COUNT): moto
 * checks actions and resources but only some conditions, and the Synkti worker role is
 * mostly conditions (tags, tags at launch, PassedToService, region).
 *
 * Bounds: listens on loopback only and forwards only to the moto endpoint it was given;
 * bodies the check must read are capped (`maxBodyBytes`), S3 bodies stream through
 * unread; every upstream request has a timeout; the denial list is capped.
 * Not checked: SigV4 signatures (moto does not verify them either), session policies,
 * bucket policies, SCPs; KMS keys are assumed to carry the default key policy.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SynktiError } from '@synkti/core';
import { authorizationChecks, missingContextKeys, type ResourceLookup } from './iam-actions.ts';
import { accessDenied, expiredToken, unknownAccessKey, type ErrorResponse } from './iam-errors.ts';
import type { IamEvaluator } from './iam-evaluate.ts';
import type { RolePolicyStore } from './iam-policies.ts';
import { needsBody, parseAwsRequest, signerOf, type AwsRequest } from './iam-request.ts';
import type { RoleCredentials, RoleSessions, SessionPrincipal } from './iam-roles.ts';
import { MOTO_ADMIN_CREDENTIALS, type MotoServer } from './moto-server.ts';

export interface IamDenial {
  /** ISO time of the call. */
  at: string;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>`, or `anonymous`. */
  principal: string;
  role: string | undefined;
  /** The IAM action denied (`ec2:TerminateInstances`). */
  action: string;
  resource: string;
  reason: string;
  /** The API operation called (`TerminateInstances`, or the S3 method and path). */
  operation: string;
}

export interface IamReport {
  /** Calls by role sessions (checked), allowed or not. */
  awsCalls: number;
  /** Calls IAM denied. */
  iamDenied: number;
  /** Calls per principal and action. */
  byPrincipal: Record<string, Record<string, { calls: number; denied: number }>>;
  /** The first `maxDenials` denials, in order. */
  denials: IamDenial[];
  /** Calls signed with an administrator key (passed through unchecked). */
  adminCalls: number;
  /** Calls with a key the account never issued, an expired session, or no signature. */
  unauthenticated: number;
  /** Calls the proxy could not check or forward (lookup failure, moto unreachable). */
  errors: number;
  /**
   * How completely the condition context was derived: a check is partial when a policy
   * statement for its action references a key the derivation does not supply.
   */
  context: { checks: number; full: number; partial: number; missingKeysByAction: Record<string, string[]> };
}

export interface IamProxyOptions {
  moto: MotoServer;
  sessions: RoleSessions;
  policies: RolePolicyStore;
  evaluator: IamEvaluator;
  lookup: ResourceLookup;
  /** Keys that pass through unchecked and uncounted. @default [MOTO_ADMIN_CREDENTIALS.accessKeyId] */
  adminAccessKeys?: readonly string[] | undefined;
  /** Loopback address to listen on. @default '127.0.0.1' */
  host?: string | undefined;
  /** @default 0 (a free port) */
  port?: number | undefined;
  /** Largest body the proxy reads to find the operation (query/JSON protocols, S3 DeleteObjects). @default 1 MiB */
  maxBodyBytes?: number | undefined;
  /** Timeout of each forwarded request. @default 120000 */
  upstreamTimeoutMs?: number | undefined;
  /** Denials kept in the report (all are counted). @default 1000 */
  maxDenials?: number | undefined;
  /** Told of each denial as it happens. @default none */
  onDenial?: ((denial: IamDenial) => void) | undefined;
}

export interface IamProxy {
  /** `http://127.0.0.1:<port>`: the `AWS_ENDPOINT_URL` of every checked caller. */
  endpoint: string;
  host: string;
  port: number;
  report(): IamReport;
  resetReport(): void;
  /** Re-read role policies from moto on the next call (after changing them there directly). */
  invalidatePolicies(): void;
  /** Options for an AWS SDK v3 client that signs as `credentials` through the proxy. */
  clientConfig(credentials: RoleCredentials): {
    endpoint: string;
    region: string;
    forcePathStyle: true;
    maxAttempts: number;
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  };
  /** Environment for a child process (the `aws` CLI, an agent) that signs as `credentials`. */
  env(credentials: RoleCredentials): Record<string, string>;
  stop(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1';
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new BodyTooLarge(`body over ${max} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// Hop-by-hop headers stay on their hop; `expect: 100-continue` was already answered by this server.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect']);

export async function startIamProxy(options: IamProxyOptions): Promise<IamProxy> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new SynktiError('E_IAM_PROXY_OPTIONS', `host: the IAM proxy listens on loopback only, got ${host}`, { hint: 'use 127.0.0.1' });
  }
  const { moto, sessions, policies, evaluator, lookup } = options;
  const adminKeys = new Set(options.adminAccessKeys ?? [MOTO_ADMIN_CREDENTIALS.accessKeyId]);
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 120_000;
  const maxDenials = options.maxDenials ?? 1000;

  let report: IamReport;
  const resetReport = (): void => {
    report = {
      awsCalls: 0,
      iamDenied: 0,
      byPrincipal: {},
      denials: [],
      adminCalls: 0,
      unauthenticated: 0,
      errors: 0,
      context: { checks: 0, full: 0, partial: 0, missingKeysByAction: {} },
    };
  };
  resetReport();

  const count = (principal: string, action: string, denied: boolean): void => {
    report.awsCalls++;
    const actions = (report.byPrincipal[principal] ??= {});
    const entry = (actions[action] ??= { calls: 0, denied: 0 });
    entry.calls++;
    if (denied) {
      entry.denied++;
      report.iamDenied++;
    }
  };

  const send = (res: ServerResponse, answer: ErrorResponse): void => {
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
    res.end(answer.body);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): void => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    headers.host = `${moto.host}:${moto.port}`;
    if (body !== undefined) headers['content-length'] = String(body.length);
    else if (req.headers['transfer-encoding']) headers['transfer-encoding'] = req.headers['transfer-encoding'];
    const upstream = httpRequest(
      { host: moto.host, port: moto.port, method: req.method, path: req.url, headers, timeout: upstreamTimeoutMs },
      (answer) => {
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
        }
        if (answer.headers['transfer-encoding'] && answer.headers['content-length'] === undefined)
          out['transfer-encoding'] = answer.headers['transfer-encoding'];
        res.writeHead(answer.statusCode ?? 502, out);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('moto did not answer in time')));
    upstream.on('error', () => {
      report.errors++;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('the emulated AWS (moto) did not answer\n');
      } else {
        res.destroy();
      }
    });
    if (body !== undefined) upstream.end(body);
    else req.pipe(upstream);
  };

  const recordDenial = (denial: IamDenial): void => {
    if (report.denials.length < maxDenials) report.denials.push(denial);
    options.onDenial?.(denial);
  };

  const operationName = (aws: AwsRequest, url: URL): string => (aws.protocol === 's3' ? `${aws.method} ${url.pathname}` : aws.operation);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const signer = signerOf(url, req.headers);
    if (signer && adminKeys.has(signer.accessKeyId)) {
      report.adminCalls++;
      // An administrator may change IAM directly: re-read role policies afterwards.
      if (signer.service === 'iam') res.once('finish', () => policies.invalidate());
      forward(req, res, undefined);
      return;
    }
    const deleteObjects = req.method === 'POST' && url.searchParams.has('delete');
    let body: Buffer | undefined;
    if (needsBody(signer, url, req.headers) || deleteObjects) {
      try {
        body = await readBody(req, maxBody);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
          res.end(`request body over ${maxBody} bytes\n`);
          return;
        }
        throw error;
      }
    }
    const aws = parseAwsRequest({ method: req.method ?? 'GET', url, headers: req.headers, body });
    const principal: SessionPrincipal | undefined = signer ? sessions.principalOf(signer.accessKeyId) : undefined;
    if (!principal) {
      report.unauthenticated++;
      if (!signer)
        recordDenial({
          at: new Date().toISOString(),
          principal: 'anonymous',
          role: undefined,
          action: `${aws.service}:${aws.operation || req.method}`,
          resource: url.pathname,
          reason: 'unsigned request',
          operation: operationName(aws, url),
        });
      send(res, unknownAccessKey(aws));
      return;
    }
    if (signer?.sessionToken !== principal.sessionToken || principal.expiration.getTime() <= Date.now()) {
      report.unauthenticated++;
      send(res, expiredToken(aws));
      return;
    }
    const checks = await authorizationChecks(aws, {
      account: moto.accountId,
      lookup,
      principalContext: {
        'aws:PrincipalArn': principal.roleArn,
        'aws:PrincipalAccount': moto.accountId,
        'aws:PrincipalType': 'AssumedRole',
        'aws:userid': principal.userId,
        ...(principal.instanceId
          ? {
              'ec2:SourceInstanceARN': `arn:aws:ec2:${aws.region}:${moto.accountId}:instance/${principal.instanceId}`,
              'ec2:RoleDelivery': '2.0',
            }
          : {}),
      },
    });
    const named = await policies.policiesOf(principal.roleName);
    const statements = named.flatMap((p) => p.policy.Statement);
    const callAction = checks[0]?.action ?? `${aws.service}:${aws.operation}`;
    for (const check of checks) {
      if (check.alwaysAllowed) continue;
      const missing = missingContextKeys(check, statements);
      report.context.checks++;
      if (missing.length === 0) {
        report.context.full++;
      } else {
        report.context.partial++;
        const known = new Set(report.context.missingKeysByAction[check.action] ?? []);
        for (const key of missing) known.add(key);
        report.context.missingKeysByAction[check.action] = [...known].sort();
      }
      const decision = await evaluator.evaluate({ principalArn: principal.principalArn, account: moto.accountId, policies: named, check });
      if (!decision.allowed) {
        count(principal.principalArn, callAction, true);
        recordDenial({
          at: new Date().toISOString(),
          principal: principal.principalArn,
          role: principal.roleName,
          action: check.action,
          resource: check.resource,
          reason: decision.reason,
          operation: operationName(aws, url),
        });
        send(res, accessDenied(aws, principal.principalArn, check.action, check.resource, decision.reason));
        if (body === undefined) req.resume();
        return;
      }
    }
    count(principal.principalArn, callAction, false);
    // A role allowed to change IAM may change its own policies: re-read them afterwards.
    if (aws.service === 'iam') res.once('finish', () => policies.invalidate());
    forward(req, res, body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      report.errors++;
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`the IAM proxy could not check this request: ${(error as Error).message}\n`);
      } else {
        res.destroy();
      }
    });
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = upstreamTimeoutMs + 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const endpoint = `http://${host}:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    host,
    port,
    report: () => structuredClone(report),
    resetReport,
    invalidatePolicies: () => policies.invalidate(),
    clientConfig: (c) => ({
      endpoint,
      region: moto.region,
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken },
    }),
    env: (c) => ({
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: moto.region,
      AWS_DEFAULT_REGION: moto.region,
      AWS_ACCESS_KEY_ID: c.accessKeyId,
      AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
      AWS_SESSION_TOKEN: c.sessionToken,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
    }),
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
