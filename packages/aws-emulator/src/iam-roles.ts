/**
 * Roles in the emulated account, made from synthesized documents (the roles a stack
 * creates, e.g. `synthesizeServeFleetRoles` of `@synkti/infra/testing`), and the
 * credentials of a role, minted by STS AssumeRole in moto as EC2 does for an instance
 * profile. The access key of each minted session is remembered with its principal, so the
 * IAM proxy can tell who signed a request.
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  GetInstanceProfileCommand,
  IAMClient,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { SynktiError } from '@synkti/core';
import type { MotoServer } from './moto-server.ts';

/**
 * moto loads AWS managed policies (AmazonSSMManagedInstanceCore...) only when asked: start
 * moto with this environment when roles attach them.
 */
export const MOTO_IAM_ENV: Readonly<Record<string, string>> = { MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' };

export interface IamPolicyStatement {
  Sid?: string | undefined;
  Effect: string;
  Action?: string | string[] | undefined;
  NotAction?: string | string[] | undefined;
  Resource?: string | string[] | undefined;
  NotResource?: string | string[] | undefined;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>> | undefined;
}

export interface IamPolicyDocument {
  Version?: string | undefined;
  Statement: IamPolicyStatement[];
}

/** A role as a stack synthesizes it (structurally `SynthesizedRole` of `@synkti/infra/testing`). */
export interface IamRoleDocument {
  name: string;
  /** @default '/' */
  path?: string | undefined;
  trustPolicy: IamPolicyDocument;
  inlinePolicies: Array<{ name: string; document: IamPolicyDocument }>;
  /** AWS managed policies (their documents come from moto). */
  managedPolicyArns: string[];
  /** Managed policies the stack creates (created in moto under their name). @default [] */
  customerManagedPolicies?: Array<{ name: string; document: IamPolicyDocument }> | undefined;
  /** Instance profiles that carry the role. @default [] */
  instanceProfiles?: string[] | undefined;
}

export interface InstalledRole {
  name: string;
  arn: string;
  instanceProfiles: Array<{ name: string; arn: string }>;
}

export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** An instance as the instance emulator knows it (structurally its `EmulatedInstance`). */
export interface InstanceRef {
  instanceId: string;
  /** IamInstanceProfile.Arn of the instance (a profile name works too); none: no credentials. */
  instanceProfileArn?: string | undefined;
}

/** Who a minted access key belongs to. */
export interface SessionPrincipal {
  roleName: string;
  roleArn: string;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>`: the principal AWS names in errors. */
  principalArn: string;
  /** `<role id>:<session>` (aws:userid). */
  userId: string;
  sessionToken: string;
  /** The instance the session was delivered to through IMDS, if any. */
  instanceId: string | undefined;
  expiration: Date;
}

/** The credentials document EC2 serves at `iam/security-credentials/<role>`. */
export interface ImdsCredentials {
  Code: 'Success';
  LastUpdated: string;
  Type: 'AWS-HMAC';
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

export function imdsCredentials(credentials: RoleCredentials, now = new Date()): ImdsCredentials {
  return {
    Code: 'Success',
    LastUpdated: now.toISOString(),
    Type: 'AWS-HMAC',
    AccessKeyId: credentials.accessKeyId,
    SecretAccessKey: credentials.secretAccessKey,
    Token: credentials.sessionToken,
    Expiration: credentials.expiration.toISOString(),
  };
}

function errorName(error: unknown): string {
  return (error as { name?: string }).name ?? '';
}

/** Creates each role, its policies and instance profiles in moto (as the administrator). */
export async function installRoles(moto: MotoServer, roles: readonly IamRoleDocument[]): Promise<InstalledRole[]> {
  const iam = new IAMClient(moto.clientConfig());
  const installed: InstalledRole[] = [];
  try {
    for (const role of roles) {
      const created = await iam.send(
        new CreateRoleCommand({
          RoleName: role.name,
          Path: role.path ?? '/',
          AssumeRolePolicyDocument: JSON.stringify(role.trustPolicy),
        }),
      );
      for (const inline of role.inlinePolicies) {
        await iam.send(
          new PutRolePolicyCommand({ RoleName: role.name, PolicyName: inline.name, PolicyDocument: JSON.stringify(inline.document) }),
        );
      }
      for (const arn of role.managedPolicyArns) {
        try {
          await iam.send(new AttachRolePolicyCommand({ RoleName: role.name, PolicyArn: arn }));
        } catch (error) {
          if (errorName(error) !== 'NoSuchEntityException' && errorName(error) !== 'NoSuchEntity') throw error;
          throw new SynktiError('E_IAM_MANAGED_POLICY', `role ${role.name}: managed policy ${arn} is not in the emulated account`, {
            hint: 'start moto with env MOTO_IAM_ENV (MOTO_IAM_LOAD_MANAGED_POLICIES=true) so it loads the AWS managed policies',
          });
        }
      }
      for (const policy of role.customerManagedPolicies ?? []) {
        const made = await iam.send(new CreatePolicyCommand({ PolicyName: policy.name, PolicyDocument: JSON.stringify(policy.document) }));
        await iam.send(new AttachRolePolicyCommand({ RoleName: role.name, PolicyArn: made.Policy!.Arn }));
      }
      const profiles: InstalledRole['instanceProfiles'] = [];
      for (const name of role.instanceProfiles ?? []) {
        const profile = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
        await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: role.name }));
        profiles.push({ name, arn: profile.InstanceProfile!.Arn! });
      }
      installed.push({ name: role.name, arn: created.Role!.Arn!, instanceProfiles: profiles });
    }
  } finally {
    iam.destroy();
  }
  return installed;
}

export interface RoleSessionsOptions {
  /** Lifetime of each session (EC2 serves 6 h credentials; STS allows 900 s to 12 h). @default 3600 */
  durationSeconds?: number | undefined;
  /** A session is minted again this long before it expires. @default 300000 */
  refreshBeforeMs?: number | undefined;
}

/** Mints role sessions in moto and remembers whose access key is whose. */
export class RoleSessions {
  private readonly byKey = new Map<string, SessionPrincipal>();
  private readonly byInstance = new Map<string, { roleName: string; credentials: RoleCredentials }>();
  private readonly sts: STSClient;
  private readonly iam: IAMClient;
  private readonly durationSeconds: number;
  private readonly refreshBeforeMs: number;

  constructor(
    private readonly moto: MotoServer,
    options: RoleSessionsOptions = {},
  ) {
    this.sts = new STSClient(moto.clientConfig());
    this.iam = new IAMClient(moto.clientConfig());
    this.durationSeconds = options.durationSeconds ?? 3600;
    this.refreshBeforeMs = options.refreshBeforeMs ?? 300_000;
  }

  /** The principal behind an access key, or undefined for a key this account never issued. */
  principalOf(accessKeyId: string): SessionPrincipal | undefined {
    return this.byKey.get(accessKeyId);
  }

  /** New credentials of `roleName` (AssumeRole in moto). */
  async mint(roleName: string, sessionName: string, instanceId?: string): Promise<RoleCredentials> {
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
      throw new SynktiError('E_IAM_SESSION', `session name "${sessionName}" is not a valid role session name`, {
        hint: '2–64 characters of letters, digits and +=,.@_-',
      });
    }
    const roleArn = `arn:aws:iam::${this.moto.accountId}:role/${roleName}`;
    const out = await this.sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: this.durationSeconds }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new SynktiError('E_IAM_SESSION', `moto's AssumeRole of ${roleArn} returned no credentials`, {
        hint: 'is moto_server healthy? see its log',
      });
    }
    const credentials: RoleCredentials = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
    this.byKey.set(c.AccessKeyId, {
      roleName,
      roleArn,
      principalArn: out.AssumedRoleUser?.Arn ?? `arn:aws:sts::${this.moto.accountId}:assumed-role/${roleName}/${sessionName}`,
      userId: out.AssumedRoleUser?.AssumedRoleId ?? `${roleName}:${sessionName}`,
      sessionToken: c.SessionToken,
      instanceId,
      expiration: c.Expiration,
    });
    return credentials;
  }

  /**
   * The role credentials an instance's IMDS serves (`credentialsFor(instance)` of the
   * instance emulator): the role of its instance profile, one session per instance named
   * after the instance, minted again shortly before it expires. Undefined without a profile.
   */
  async forInstance(instance: InstanceRef): Promise<{ roleName: string; credentials: RoleCredentials } | undefined> {
    const ref = instance.instanceProfileArn;
    if (!ref) return undefined;
    const cached = this.byInstance.get(instance.instanceId);
    if (cached && cached.credentials.expiration.getTime() - Date.now() > this.refreshBeforeMs) return cached;
    const roleName = await this.roleOfProfile(ref);
    if (!roleName) return undefined;
    const credentials = await this.mint(roleName, instance.instanceId, instance.instanceId);
    const entry = { roleName, credentials };
    this.byInstance.set(instance.instanceId, entry);
    return entry;
  }

  private async roleOfProfile(nameOrArn: string): Promise<string | undefined> {
    const name = nameOrArn.replace(/^arn:[^:]+:iam::\d*:instance-profile\/(?:.*\/)?/, '');
    try {
      const out = await this.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
      return out.InstanceProfile?.Roles?.[0]?.RoleName;
    } catch (error) {
      if (errorName(error) === 'NoSuchEntityException' || errorName(error) === 'NoSuchEntity') return undefined;
      throw error;
    }
  }

  close(): void {
    this.sts.destroy();
    this.iam.destroy();
  }
}
