/**
 * What an emulated instance's metadata service (IMDSv2) answers, from its EC2 record: the
 * paths the agent (packages/agent/src/aws-environment.ts, the IMDS client), the boot
 * script (the identity document's accountId) and the AWS SDK and CLI credential providers
 * read on EC2. Served by @synkti/cloud's metadata server, which does the IMDSv2 protocol.
 */
import {
  IDENTITY_PATHS,
  cloudIdentitySigner,
  type InterruptionNotice,
  type MetadataSource,
  type RebalanceRecommendation,
} from '@synkti/cloud';

/** One emulated instance as the emulator read it from the emulated EC2 (DescribeInstances). */
export interface EmulatedInstance {
  instanceId: string;
  instanceType: string;
  imageId: string;
  region: string;
  zone: string;
  privateIp: string;
  /** The primary network interface's MAC address. */
  mac: string;
  subnetId: string;
  vpcId: string;
  securityGroupIds: string[];
  tags: Record<string, string>;
  /** MetadataOptions.InstanceMetadataTags === 'enabled': otherwise tags are a 404, as on EC2. */
  tagsInMetadata: boolean;
  /** Decoded user data (moto stores it base64, as EC2 returns it). */
  userData?: string | undefined;
  /** IamInstanceProfile.Arn, when the instance was launched with one. */
  instanceProfileArn?: string | undefined;
  instanceProfileId?: string | undefined;
  /** The role inside the instance profile (the name under iam/security-credentials/). */
  roleName?: string | undefined;
  lifecycle: 'spot' | 'on-demand';
  /** Epoch milliseconds. */
  launchedAt: number;
  accountId: string;
}

/** Temporary credentials as IMDS hands them out (iam/security-credentials/<role>). */
export interface InstanceCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  /** ISO 8601, e.g. 2026-12-07T12:00:00Z. */
  Expiration: string;
}

/** The role credentials for an instance; `undefined` serves none (404), as an instance whose profile has no role. */
export type CredentialsFor = (instance: EmulatedInstance) => Promise<InstanceCredentials | undefined>;

/** What happens to an instance besides its record: a spot notice, a rebalance recommendation. */
export interface InstanceEvents {
  notice: InterruptionNotice | null;
  rebalance: RebalanceRecommendation | null;
}

export interface EmulatedMetadataOptions {
  /** The instance's current record (read afresh on every request: tags may change). */
  instance: () => EmulatedInstance;
  events: () => InstanceEvents;
  /** @default none: no role credentials are served */
  credentialsFor?: CredentialsFor | undefined;
  /**
   * The emulated cloud's identity-signing key (Ed25519, created 0600 if missing): the
   * identity document is then also served signed by it (`synkti-ed25519`, `synkti-cloud-key`),
   * standing in for AWS's pkcs7 signature, which only AWS can make.
   * @default none: the document is served unsigned
   */
  identityKeyFile?: string | undefined;
  /**
   * Epoch-milliseconds clock (credential caching, LastUpdated).
   * @default Date.now
   */
  clock?: () => number;
}

/** EC2's time format in metadata documents: UTC, whole seconds. */
function isoSeconds(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** EC2 pretty-prints the identity document as `  "key" : value` lines. */
function identityDocument(instance: EmulatedInstance): string {
  const fields: [string, string | null][] = [
    ['accountId', instance.accountId],
    ['architecture', 'x86_64'],
    ['availabilityZone', instance.zone],
    ['billingProducts', null],
    ['devpayProductCodes', null],
    ['marketplaceProductCodes', null],
    ['imageId', instance.imageId],
    ['instanceId', instance.instanceId],
    ['instanceType', instance.instanceType],
    ['kernelId', null],
    ['pendingTime', isoSeconds(instance.launchedAt)],
    ['privateIp', instance.privateIp],
    ['ramdiskId', null],
    ['region', instance.region],
    ['version', '2017-09-30'],
  ];
  return `{\n${fields.map(([k, v]) => `  ${JSON.stringify(k)} : ${JSON.stringify(v)}`).join(',\n')}\n}`;
}

function hostname(instance: EmulatedInstance): string {
  const suffix = instance.region === 'us-east-1' ? 'ec2.internal' : `${instance.region}.compute.internal`;
  return `ip-${instance.privateIp.replace(/\./g, '-')}.${suffix}`;
}

/** Refresh credentials this long before they expire (EC2 rotates them well ahead too). */
const CREDENTIALS_REFRESH_MS = 5 * 60_000;

export function emulatedMetadataSource(options: EmulatedMetadataOptions): MetadataSource {
  const clock = options.clock ?? Date.now;
  let cached: { credentials: InstanceCredentials; fetchedAt: number; refreshAt: number } | undefined;
  let pending: Promise<InstanceCredentials | undefined> | undefined;

  async function credentials(): Promise<{ credentials: InstanceCredentials; fetchedAt: number } | undefined> {
    const now = clock();
    if (cached && now < cached.refreshAt) return cached;
    const credentialsFor = options.credentialsFor;
    if (!credentialsFor) return undefined;
    pending ??= credentialsFor(options.instance()).finally(() => {
      pending = undefined;
    });
    const fresh = await pending;
    if (!fresh) return undefined;
    const expires = Date.parse(fresh.Expiration);
    // Unparseable expiry: never cache (the SDK will refuse it anyway).
    const refreshAt = Number.isFinite(expires) ? Math.max(now, expires - CREDENTIALS_REFRESH_MS) : now;
    cached = { credentials: fresh, fetchedAt: now, refreshAt };
    return cached;
  }

  /** The role name when the instance has a profile and credentials are served for it. */
  function roleName(instance: EmulatedInstance): string | undefined {
    if (!instance.instanceProfileArn || !options.credentialsFor) return undefined;
    return instance.roleName ?? instance.instanceProfileArn.split('/').pop();
  }

  const signer = options.identityKeyFile === undefined ? undefined : cloudIdentitySigner(options.identityKeyFile);
  return {
    async identity() {
      const i = options.instance();
      return { instanceId: i.instanceId, instanceType: i.instanceType, region: i.region, zone: i.zone, privateIp: i.privateIp };
    },
    async tags() {
      const i = options.instance();
      return i.tagsInMetadata ? { ...i.tags } : undefined;
    },
    async userData() {
      return options.instance().userData;
    },
    async interruptionNotice() {
      return options.events().notice;
    },
    async rebalanceRecommendation() {
      return options.events().rebalance;
    },
    async otherPath(path: string): Promise<string | undefined> {
      const i = options.instance();
      const meta = '/latest/meta-data/';
      if (path === '/latest/dynamic/instance-identity/document') return identityDocument(i);
      if (signer && path === IDENTITY_PATHS.cloudKey) return signer.publicKeyPem;
      if (signer && path === IDENTITY_PATHS.ed25519) return signer.signText(identityDocument(i));
      if (!path.startsWith(meta)) return undefined;
      const p = path.slice(meta.length);
      const macPrefix = `network/interfaces/macs/${i.mac}/`;
      switch (p) {
        case 'ami-id':
          return i.imageId;
        case 'mac':
          return i.mac;
        case 'hostname':
        case 'local-hostname':
          return hostname(i);
        case 'instance-life-cycle':
          return i.lifecycle;
        case 'network/interfaces/macs':
        case 'network/interfaces/macs/':
          return `${i.mac}/`;
        case `${macPrefix}subnet-id`:
          return i.subnetId;
        case `${macPrefix}vpc-id`:
          return i.vpcId;
        case `${macPrefix}security-group-ids`:
          return i.securityGroupIds.join('\n');
        case `${macPrefix}local-ipv4s`:
          return i.privateIp;
        case `${macPrefix}device-number`:
          return '0';
        case 'spot/termination-time': {
          const notice = options.events().notice;
          return notice ? isoSeconds(notice.time) : undefined;
        }
        case 'iam/info': {
          if (!i.instanceProfileArn) return undefined;
          return JSON.stringify(
            {
              Code: 'Success',
              LastUpdated: isoSeconds(i.launchedAt),
              InstanceProfileArn: i.instanceProfileArn,
              InstanceProfileId: i.instanceProfileId ?? 'AIPAEMULATEDPROFILE0001',
            },
            null,
            2,
          );
        }
        case 'iam/security-credentials':
        case 'iam/security-credentials/': {
          const role = roleName(i);
          if (!role) return undefined;
          return (await credentials()) ? role : undefined;
        }
      }
      const role = roleName(i);
      if (role && p === `iam/security-credentials/${role}`) {
        const found = await credentials();
        if (!found) return undefined;
        return JSON.stringify(
          {
            Code: 'Success',
            LastUpdated: isoSeconds(found.fetchedAt),
            Type: 'AWS-HMAC',
            AccessKeyId: found.credentials.AccessKeyId,
            SecretAccessKey: found.credentials.SecretAccessKey,
            Token: found.credentials.Token,
            Expiration: found.credentials.Expiration,
          },
          null,
          2,
        );
      }
      return undefined;
    },
  };
}
