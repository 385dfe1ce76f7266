/**
 * IAM truth for the emulated AWS in one call: the stack's roles created in moto, role
 * sessions for callers (the instance emulator serves them through each instance's IMDS),
 * and the IAM-checking proxy every non-administrator call goes through.
 *
 * ```ts
 * const roles = await synthesizeServeFleetRoles({ projectName: 'demo', agentReplacement: true });
 * const truth = await startIamTruth({ moto, roles });
 * // instance emulator: awsEndpoint: truth.endpoint, credentialsFor: (i) => truth.credentialsFor(i)
 * // at the end: truth.report() → { awsCalls, iamDenied, denials: [{ principal, action, ... }] }
 * ```
 *
 * When moto is started by someone else after the endpoint must be known (startEmulatedAws
 * takes `awsEndpoint` and `credentialsFor` before it starts moto), `prepareIamTruth` gives
 * both first and checks from `attach(moto)` on.
 */
import { IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { freeLoopbackPort } from '@synkti/core';
import { MotoResourceLookup } from './iam-lookup.ts';
import { loadIamSimulator, type IamEvaluator } from './iam-evaluate.ts';
import { RolePolicyStore } from './iam-policies.ts';
import { startIamProxy, type IamProxy, type IamProxyOptions, type IamReport } from './iam-proxy.ts';
import {
  imdsCredentials,
  installRoles,
  RoleSessions,
  type IamPolicyDocument,
  type IamRoleDocument,
  type ImdsCredentials,
  type InstalledRole,
  type InstanceRef,
  type RoleCredentials,
} from './iam-roles.ts';
import type { MotoServer } from './moto-server.ts';

export interface IamTruthOptions {
  moto: MotoServer;
  /** Roles to create (e.g. `synthesizeServeFleetRoles()`); start moto with MOTO_IAM_ENV when they attach AWS managed policies. */
  roles: readonly IamRoleDocument[];
  /** Proxy settings. @default loopback, free port, 1 MiB bodies */
  proxy?:
    | Partial<Pick<IamProxyOptions, 'host' | 'port' | 'maxBodyBytes' | 'upstreamTimeoutMs' | 'maxDenials' | 'onDenial' | 'adminAccessKeys'>>
    | undefined;
  /** Lifetime of minted role sessions. @default 3600 */
  sessionDurationSeconds?: number | undefined;
  /** The evaluator (tests). @default iam-simulate, loaded dynamically */
  evaluator?: IamEvaluator | undefined;
}

export interface IamTruth {
  /** Where checked callers send AWS calls (the instance emulator's `awsEndpoint`). */
  endpoint: string;
  roles: InstalledRole[];
  proxy: IamProxy;
  /** A new session of a role (for the CLI or a test acting as that role). */
  credentialsForRole(roleName: string, sessionName?: string): Promise<RoleCredentials>;
  /**
   * What an instance's IMDS serves at iam/security-credentials/<role> (fits the instance
   * emulator's `credentialsFor` option as is): a session of its profile's role named after
   * the instance, minted again before it expires; undefined without a profile.
   */
  credentialsFor(instance: InstanceRef): Promise<ImdsCredentials | undefined>;
  /** The same session with its role name and SDK-shaped credentials (tests acting as the instance). */
  sessionFor(instance: InstanceRef): Promise<{ roleName: string; credentials: RoleCredentials } | undefined>;
  report(): IamReport;
  /** Replaces an inline policy of a role in moto; the next call is checked against it. */
  putRolePolicy(roleName: string, policyName: string, document: IamPolicyDocument): Promise<void>;
  stop(): Promise<void>;
}

export async function startIamTruth(options: IamTruthOptions): Promise<IamTruth> {
  const { moto } = options;
  // First: without the simulator there is nothing to enforce with (fails with the hint).
  const evaluator = options.evaluator ?? (await loadIamSimulator());
  const roles = await installRoles(moto, options.roles);
  const sessions = new RoleSessions(moto, { durationSeconds: options.sessionDurationSeconds });
  const policies = new RolePolicyStore(moto);
  const lookup = new MotoResourceLookup(moto);
  let proxy: IamProxy;
  try {
    proxy = await startIamProxy({ ...options.proxy, moto, sessions, policies, evaluator, lookup });
  } catch (error) {
    sessions.close();
    policies.close();
    lookup.close();
    throw error;
  }
  let counter = 0;
  return {
    endpoint: proxy.endpoint,
    roles,
    proxy,
    credentialsForRole: (roleName, sessionName) => sessions.mint(roleName, sessionName ?? `synkti-${process.pid}-${++counter}`),
    credentialsFor: async (instance) => {
      const session = await sessions.forInstance(instance);
      return session && imdsCredentials(session.credentials);
    },
    sessionFor: (instance) => sessions.forInstance(instance),
    report: () => proxy.report(),
    async putRolePolicy(roleName, policyName, document) {
      const iam = new IAMClient(moto.clientConfig());
      try {
        await iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: policyName, PolicyDocument: JSON.stringify(document) }));
      } finally {
        iam.destroy();
      }
      policies.invalidate();
    },
    async stop() {
      await proxy.stop();
      sessions.close();
      policies.close();
      lookup.close();
    },
  };
}

export interface PendingIamTruth {
  /** The proxy's endpoint (its port reserved now, listening from `attach`). */
  endpoint: string;
  /** As `IamTruth.credentialsFor`; waits for `attach`. */
  credentialsFor(instance: InstanceRef): Promise<ImdsCredentials | undefined>;
  /** Creates the roles in `moto` and starts checking on `endpoint`. */
  attach(moto: MotoServer): Promise<IamTruth>;
  /** Stops the attached truth, if any; idempotent. */
  stop(): Promise<void>;
}

/**
 * IAM truth whose moto comes later:
 * ```ts
 * const iam = await prepareIamTruth({ roles });
 * const aws = await startEmulatedAws({ stateDir, awsEndpoint: iam.endpoint, credentialsFor: iam.credentialsFor, motoEnv: { ...MOTO_IAM_ENV } });
 * const truth = await iam.attach(aws.moto);
 * ```
 */
export async function prepareIamTruth(options: Omit<IamTruthOptions, 'moto'>): Promise<PendingIamTruth> {
  const host = options.proxy?.host ?? '127.0.0.1';
  // Reserved now so callers can be configured with it; a port taken meanwhile fails attach loudly.
  const port = options.proxy?.port && options.proxy.port > 0 ? options.proxy.port : await freeLoopbackPort(host);
  let resolveTruth!: (truth: IamTruth) => void;
  let rejectTruth!: (error: unknown) => void;
  const ready = new Promise<IamTruth>((resolve, reject) => {
    resolveTruth = resolve;
    rejectTruth = reject;
  });
  ready.catch(() => undefined);
  let attached: Promise<IamTruth> | undefined;
  let stopped = false;
  return {
    endpoint: `http://${host}:${port}`,
    credentialsFor: async (instance) => (await ready).credentialsFor(instance),
    attach(moto) {
      attached ??= startIamTruth({ ...options, moto, proxy: { ...options.proxy, host, port } }).then(
        (truth) => {
          resolveTruth(truth);
          return truth;
        },
        (error: unknown) => {
          rejectTruth(error);
          throw error;
        },
      );
      return attached;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      rejectTruth(new Error('IAM truth stopped before it was attached'));
      if (attached)
        await attached.then(
          (truth) => truth.stop(),
          () => undefined,
        );
    },
  };
}
