/**
 * The lookups IAM condition context needs from the emulated account (current tags of a
 * resource, the role of an instance profile, the VPC of a subnet), made directly against
 * moto as the administrator, never through the IAM proxy.
 */
import { DescribeSubnetsCommand, DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeTagsCommand as ElbDescribeTagsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetInstanceProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { DescribeParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { ResourceLookup } from './iam-actions.ts';
import type { MotoServer } from './moto-server.ts';

/** At most this many ids per lookup (a request naming more is checked against the first ones' tags only). */
const MAX_IDS = 200;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class MotoResourceLookup implements ResourceLookup {
  private readonly ec2: EC2Client;
  private readonly elb: ElasticLoadBalancingV2Client;
  private readonly iam: IAMClient;
  private readonly ssm: SSMClient;
  private readonly region: string;
  private readonly account: string;

  constructor(moto: MotoServer, region = moto.region) {
    this.region = region;
    this.account = moto.accountId;
    const config = { ...moto.clientConfig(), region };
    this.ec2 = new EC2Client(config);
    this.elb = new ElasticLoadBalancingV2Client(config);
    this.iam = new IAMClient(config);
    this.ssm = new SSMClient(config);
  }

  async ssmParameterKey(name: string): Promise<string | undefined> {
    const plain = name.replace(/^arn:[^:]+:ssm:[^:]*:\d*:parameter/, '');
    const out = await this.ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [plain] }] }),
    );
    const parameter = out.Parameters?.[0];
    const key = parameter?.KeyId;
    if (parameter?.Type !== 'SecureString' || !key || /(^|:)alias\/aws\/ssm$/.test(key)) return undefined;
    if (key.startsWith('arn:')) return key;
    // A bare key id or an alias name, as PutParameter accepts them.
    return `arn:aws:kms:${this.region}:${this.account}:${key.startsWith('alias/') ? key : `key/${key}`}`;
  }

  async ec2Tags(ids: string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    const wanted = [...new Set(ids)].slice(0, MAX_IDS);
    if (wanted.length === 0) return out;
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await this.ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: wanted }], NextToken: token }));
      for (const tag of page.Tags ?? []) {
        if (!tag.ResourceId || tag.Key === undefined) continue;
        const tags = out.get(tag.ResourceId) ?? {};
        tags[tag.Key] = tag.Value ?? '';
        out.set(tag.ResourceId, tags);
      }
      token = page.NextToken;
    } while (token && ++pages < 50);
    return out;
  }

  async instanceProfile(nameOrArn: string): Promise<{ arn: string; roleArn: string | undefined } | undefined> {
    const name = nameOrArn.replace(/^arn:[^:]+:iam::\d*:instance-profile\/(?:.*\/)?/, '');
    try {
      const out = await this.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
      const profile = out.InstanceProfile;
      return profile?.Arn ? { arn: profile.Arn, roleArn: profile.Roles?.[0]?.Arn } : undefined;
    } catch (error) {
      if (/NoSuchEntity/.test((error as Error).name)) return undefined;
      throw error;
    }
  }

  async subnetVpc(subnetId: string): Promise<string | undefined> {
    try {
      const out = await this.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }));
      return out.Subnets?.[0]?.VpcId;
    } catch (error) {
      if (/NotFound/.test((error as Error).name)) return undefined;
      throw error;
    }
  }

  async elbTags(arns: string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    for (const batch of chunks([...new Set(arns)].slice(0, MAX_IDS), 20)) {
      try {
        const page = await this.elb.send(new ElbDescribeTagsCommand({ ResourceArns: batch }));
        for (const d of page.TagDescriptions ?? []) {
          if (d.ResourceArn) out.set(d.ResourceArn, Object.fromEntries((d.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])));
        }
      } catch (error) {
        // A resource that does not exist has no tags; the call itself then fails in ELB.
        if (!/NotFound/.test((error as Error).name)) throw error;
      }
    }
    return out;
  }

  close(): void {
    this.ec2.destroy();
    this.elb.destroy();
    this.iam.destroy();
    this.ssm.destroy();
  }
}
