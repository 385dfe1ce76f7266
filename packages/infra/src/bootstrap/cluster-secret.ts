/**
 * Bootstrap's `secret` step: the cluster secret as an SSM Parameter Store SecureString,
 * which every worker's boot script reads at each start (`aws ssm get-parameter
 * --with-decryption`, see @synkti/cloud worker-user-data). Created once, with a value
 * generated here the way `synkti up` makes a local fleet's (32 random bytes as hex);
 * never overwritten, never read back: an existing parameter is looked at without
 * decryption and only its type is checked. The value exists only in the PutParameter
 * request: it is never printed, logged or put into an error.
 *
 * This module imports @aws-sdk/client-ssm statically; bootstrap loads it on first use.
 */
import { randomBytes } from 'node:crypto';
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { SynktiError, TAG_CLUSTER } from '@synkti/core';

export { SSMClient } from '@aws-sdk/client-ssm';

/** Random bytes in a new secret (hex-encoded: 64 characters; the agent wants at least 16). */
export const CLUSTER_SECRET_BYTES = 32;

/** A new cluster secret, in the format of a local fleet's `.synkti/<cluster>/cluster-secret`. */
export function newClusterSecret(): string {
  return randomBytes(CLUSTER_SECRET_BYTES).toString('hex');
}

export interface EnsureSsmClusterSecretOptions {
  /** The SSM client (in the cluster's region). */
  client: SSMClient;
  /** Parameter name, e.g. /synkti/my-prod/cluster-secret. */
  name: string;
  /** The project: the parameter's SynktiCluster tag. */
  cluster: string;
  /** KMS key that encrypts it. @default SSM's AWS-managed key (aws/ssm) */
  kmsKeyId?: string | undefined;
  /** Create nothing; say whether it would be created. @default false */
  dryRun?: boolean | undefined;
  /** Makes the secret (tests count or check it). @default newClusterSecret */
  generate?: (() => string) | undefined;
}

export interface SsmClusterSecretResult {
  name: string;
  /** created: put now; present: already there (left as it is); planned: a dry run would create it. */
  status: 'created' | 'present' | 'planned';
}

function errorName(error: unknown): string {
  return String((error as { name?: unknown } | null)?.name ?? '');
}

function accessDenied(name: string, action: string, extra: string, error: unknown): SynktiError {
  return new SynktiError('E_SSM_ACCESS_DENIED', `these AWS credentials may not ${action} SSM parameter ${name} (${extra} denied)`, {
    cause: error,
    hint: `grant ssm:GetParameter, ssm:PutParameter and ssm:AddTagsToResource on arn:aws:ssm:<region>:<account>:parameter${name} (plus kms:Encrypt on --kms-key-id's key if given), or let an administrator create it: aws ssm put-parameter --type SecureString --name ${name} --value "$(openssl rand -hex 32)"`,
  });
}

/**
 * `secret` is scrubbed from the message and the raw error is not kept as the cause:
 * a service's validation message may quote the request's fields.
 */
function otherError(name: string, action: string, error: unknown, secret?: string): SynktiError {
  const kind = errorName(error);
  if (kind === 'CredentialsProviderError') {
    return new SynktiError('E_AWS_CREDENTIALS', `no AWS credentials to ${action} SSM parameter ${name}`, {
      hint: 'set AWS_PROFILE (or run `aws configure` / `aws sso login`)',
    });
  }
  let message = String((error as Error)?.message ?? error);
  if (secret) message = message.split(secret).join('<the secret>');
  return new SynktiError('E_AWS_SSM', `cannot ${action} SSM parameter ${name}: ${kind ? `${kind}: ` : ''}${message}`, {
    hint: 'check the AWS credentials and region (AWS_REGION, AWS_PROFILE)',
  });
}

/** The parameter's type, or undefined when it does not exist. Never decrypts the value. */
async function parameterType(client: SSMClient, name: string): Promise<string | undefined> {
  try {
    const out = await client.send(new GetParameterCommand({ Name: name, WithDecryption: false }));
    return out.Parameter?.Type ?? 'unknown';
  } catch (error) {
    if (errorName(error) === 'ParameterNotFound') return undefined;
    if (errorName(error) === 'AccessDeniedException') throw accessDenied(name, 'read', 'ssm:GetParameter', error);
    throw otherError(name, 'read', error);
  }
}

/** Creates the SecureString unless it exists; an existing one is reported, never changed. */
export async function ensureSsmClusterSecret(options: EnsureSsmClusterSecretOptions): Promise<SsmClusterSecretResult> {
  const { client, name } = options;
  const type = await parameterType(client, name);
  if (type !== undefined) {
    if (type !== 'SecureString') {
      throw new SynktiError(
        'E_SECRET_NOT_SECURE',
        `SSM parameter ${name} holds the cluster secret as a ${type}, not a SecureString (readable unencrypted)`,
        {
          hint: `replace it with a SecureString (aws ssm delete-parameter --name ${name}, then run bootstrap again; restart the workers after), or pass --secret-parameter with another name`,
        },
      );
    }
    return { name, status: 'present' };
  }
  if (options.dryRun) return { name, status: 'planned' };
  const secret = (options.generate ?? newClusterSecret)();
  try {
    await client.send(
      new PutParameterCommand({
        Name: name,
        Type: 'SecureString',
        Value: secret,
        KeyId: options.kmsKeyId,
        Overwrite: false, // never replace a secret running workers hold
        Description: `Synkti cluster secret of ${options.cluster} (created by synkti bootstrap)`,
        Tags: [{ Key: TAG_CLUSTER, Value: options.cluster }],
      }),
    );
    return { name, status: 'created' };
  } catch (error) {
    // Someone else created it between our look and our put: theirs stands.
    if (errorName(error) === 'ParameterAlreadyExists') return { name, status: 'present' };
    if (errorName(error) === 'AccessDeniedException')
      throw accessDenied(name, 'create', 'ssm:PutParameter or ssm:AddTagsToResource', undefined);
    if (errorName(error) === 'InvalidKeyId') {
      throw new SynktiError('E_USAGE', `--kms-key-id ${options.kmsKeyId ?? '(default)'}: KMS rejected the key for SSM parameter ${name}`, {
        hint: "pass a key id, key ARN or alias/<name> of an enabled symmetric KMS key in the cluster's region, or leave --kms-key-id out (aws/ssm)",
      });
    }
    throw otherError(name, 'create', error, secret);
  }
}
