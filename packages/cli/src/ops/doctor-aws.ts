/**
 * `synkti doctor` checks for provider 'aws': region, credentials (the SDK's default
 * chain, as every other command uses), EC2 permission (a DescribeInstances dry run), and
 * the running instances' IMDS settings and Synkti tags (what the agent depends on: it
 * reads its own tags through IMDSv2, docs/field-notes.md), and the cluster secret's SSM
 * parameter (exists, is a SecureString; its value is never read).
 */
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { fail, ok, warn, type Finding } from './doctor-finding.ts';

export interface AwsDoctorOptions {
  /** Cluster name (SynktiCluster tag value). */
  cluster: string;
  region: string;
  /** @default an EC2 client for `region` on the SDK default credential chain */
  client?: EC2Client | undefined;
  /** Where AWS_REGION is read from. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  /** Most instances inspected (DescribeInstances pages of up to 1000). @default 5000 */
  maxInstances?: number | undefined;
  /** @default an SSM client for `region` on the SDK default credential chain */
  ssmClient?: SSMClient | undefined;
  /** The cluster secret's SSM parameter. @default /synkti/<cluster>/cluster-secret (what bootstrap and SpotServeFleet use) */
  secretParameter?: string | undefined;
}

const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const CREDENTIAL_ERRORS = new Set([
  'AuthFailure',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'ExpiredToken',
  'RequestExpired',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
]);

function errorName(error: unknown): string {
  return (error as { name?: string; Code?: string })?.Code ?? (error as Error)?.name ?? 'Error';
}

function errorText(error: unknown): string {
  return `${errorName(error)}: ${(error as Error)?.message ?? String(error)}`.split('\n')[0]!;
}

function tagsOf(instance: Instance): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of instance.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  return tags;
}

async function listTaggedInstances(client: EC2Client, max: number): Promise<Instance[]> {
  const found: Instance[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new DescribeInstancesCommand({
        // tag-key with two values matches either: cluster members, and role-tagged strays.
        Filters: [
          { Name: 'instance-state-name', Values: ['pending', 'running'] },
          { Name: 'tag-key', Values: [TAG_CLUSTER, TAG_ROLE] },
        ],
        MaxResults: 1000,
        NextToken: token,
      }),
    );
    for (const r of page.Reservations ?? []) found.push(...(r.Instances ?? []));
    token = page.NextToken;
  } while (token && found.length < max);
  return found;
}

/**
 * The cluster secret every worker reads from SSM at each start. Looked at without
 * decryption: only that it exists and is a SecureString; its value is never fetched.
 */
async function clusterSecretFinding(client: SSMClient, name: string, cluster: string): Promise<Finding> {
  try {
    const { Parameter } = await client.send(new GetParameterCommand({ Name: name, WithDecryption: false }));
    return Parameter?.Type === 'SecureString'
      ? ok('cluster-secret', `${name} is a SecureString`)
      : fail(
          'cluster-secret',
          `${name} is a plain ${Parameter?.Type ?? 'parameter'}: the cluster secret is readable by anyone who may read parameters`,
          `delete it and let \`synkti bootstrap --project ${cluster}\` create a SecureString (the workers read it at their next start)`,
        );
  } catch (error) {
    const code = errorName(error);
    if (code === 'ParameterNotFound') {
      return warn(
        'cluster-secret',
        `${name} does not exist: new workers will refuse to start without the cluster secret`,
        `run \`synkti bootstrap --project ${cluster}\` (it creates it), or aws ssm put-parameter --type SecureString --name ${name} --value "$(openssl rand -hex 32)"`,
      );
    }
    if (code === 'AccessDeniedException') {
      return warn(
        'cluster-secret',
        `could not look at ${name}: ssm:GetParameter is denied for these credentials`,
        `allow ssm:GetParameter on it (bootstrap also needs ssm:PutParameter and ssm:AddTagsToResource), or run doctor with a profile that has it`,
      );
    }
    return warn(
      'cluster-secret',
      `could not look at ${name}: ${errorText(error)}`,
      'check network access to SSM in the region, then run doctor again',
    );
  }
}

function imdsFinding(cluster: string, instances: Instance[]): Finding {
  const serious: string[] = [];
  const minor: string[] = [];
  const badIds: string[] = [];
  for (const i of instances) {
    const m = i.MetadataOptions ?? {};
    const id = i.InstanceId ?? '(unknown id)';
    const problems: string[] = [];
    if (m.HttpEndpoint === 'disabled') problems.push('IMDS endpoint disabled (the agent cannot see spot notices)');
    if (m.HttpTokens !== 'required')
      problems.push(`HttpTokens ${m.HttpTokens ?? 'unset'} (IMDSv1 allowed: any SSRF reads the instance credentials)`);
    if (m.InstanceMetadataTags !== 'enabled')
      problems.push(
        `InstanceMetadataTags ${m.InstanceMetadataTags ?? 'unset'} (the agent reads its ${TAG_CLUSTER}/${TAG_ROLE} tags from IMDS)`,
      );
    if (problems.length > 0) serious.push(`${id}: ${problems.join('; ')}`);
    const hops = m.HttpPutResponseHopLimit;
    if (hops === undefined || hops < 2)
      minor.push(`${id}: HttpPutResponseHopLimit ${hops ?? 'unset'} (a container needs 2 to get an IMDSv2 token)`);
    if (problems.length > 0 || hops === undefined || hops < 2) badIds.push(id);
  }
  if (instances.length === 0) return ok('imds', `no running instances of ${cluster} to check`);
  const fix = `for each of ${badIds.join(', ')}: aws ec2 modify-instance-metadata-options --instance-id <id> --http-tokens required --http-put-response-hop-limit 2 --instance-metadata-tags enabled; and set the same MetadataOptions in the launch template (synkti infra does)`;
  if (serious.length > 0)
    return fail(
      'imds',
      [`${serious.length} of ${instances.length} instance(s) with unsafe or unusable IMDS settings:`, ...serious, ...minor].join('\n'),
      fix,
    );
  if (minor.length > 0)
    return warn('imds', [`${minor.length} of ${instances.length} instance(s) with hop limit below 2:`, ...minor].join('\n'), fix);
  return ok('imds', `${instances.length} instance(s): IMDSv2 required, hop limit >= 2, instance metadata tags enabled`);
}

function tagsFinding(cluster: string, instances: Instance[], strays: Instance[]): Finding {
  const noRole = instances.filter((i) => !tagsOf(i)[TAG_ROLE]);
  const lines = [
    ...noRole.map((i) => `${i.InstanceId}: ${TAG_CLUSTER}=${cluster} but no ${TAG_ROLE} tag (its agent does not know its pool)`),
    ...strays.map(
      (i) =>
        `${i.InstanceId}: ${TAG_ROLE}=${tagsOf(i)[TAG_ROLE]} but no ${TAG_CLUSTER} tag (no cluster sees it; it costs money and does nothing)`,
    ),
  ];
  if (lines.length === 0) return ok('tags', `${instances.length} instance(s) of ${cluster} carry ${TAG_CLUSTER} and ${TAG_ROLE}`);
  const fixes = [
    ...noRole.map((i) => `aws ec2 create-tags --resources ${i.InstanceId} --tags Key=${TAG_ROLE},Value=<pool>`),
    ...strays.map((i) => `aws ec2 create-tags --resources ${i.InstanceId} --tags Key=${TAG_CLUSTER},Value=${cluster} (or terminate it)`),
  ].join('; ');
  const summary = `${lines.length} instance(s) missing Synkti tags:`;
  return noRole.length > 0 ? fail('tags', [summary, ...lines].join('\n'), fixes) : warn('tags', [summary, ...lines].join('\n'), fixes);
}

export async function awsFindings(o: AwsDoctorOptions): Promise<Finding[]> {
  const env = o.env ?? process.env;
  const findings: Finding[] = [];
  if (!REGION_RE.test(o.region)) {
    findings.push(
      fail('aws-region', `region "${o.region}" is not an AWS region`, 'set region in synkti.config.ts, e.g. region: "us-east-1"'),
    );
    return findings;
  }
  const envRegion = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  findings.push(
    envRegion !== undefined && envRegion !== o.region
      ? warn(
          'aws-region',
          `the config says ${o.region} but AWS_REGION is ${envRegion}: aws CLI commands will look at another region`,
          `export AWS_REGION=${o.region}, or change region in synkti.config.ts`,
        )
      : ok('aws-region', `${o.region}${envRegion ? '' : ' (from the config; AWS_REGION is not set)'}`),
  );

  const client = o.client ?? new EC2Client({ region: o.region, maxAttempts: 2 });
  try {
    const credentials = await client.config.credentials();
    const key = credentials.accessKeyId;
    // The key id is not secret, but the last four characters are enough to tell which.
    findings.push(
      ok(
        'aws-credentials',
        `resolved (access key …${key.slice(-4)}${credentials.expiration ? `, expires ${credentials.expiration.toISOString()}` : ''})`,
      ),
    );
  } catch (error) {
    findings.push(
      fail(
        'aws-credentials',
        `no AWS credentials: ${errorText(error)}`,
        'run `aws configure` or `aws sso login --profile <p>` and export AWS_PROFILE=<p>, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; on EC2 attach an instance profile',
      ),
    );
    return findings;
  }

  try {
    await client.send(new DescribeInstancesCommand({ DryRun: true, MaxResults: 5 }));
    findings.push(ok('ec2-permissions', 'ec2:DescribeInstances allowed'));
  } catch (error) {
    const name = errorName(error);
    if (name === 'DryRunOperation') {
      findings.push(ok('ec2-permissions', 'ec2:DescribeInstances allowed (dry run)'));
    } else if (name === 'UnauthorizedOperation') {
      findings.push(
        fail(
          'ec2-permissions',
          'ec2:DescribeInstances is denied for these credentials',
          'allow ec2:Describe*, ec2:RunInstances, ec2:TerminateInstances and ec2:CreateTags for this identity (see the infra worker policy), or use a profile that has them',
        ),
      );
      return findings;
    } else if (CREDENTIAL_ERRORS.has(name)) {
      findings.push(
        fail(
          'aws-credentials',
          `EC2 rejects the credentials: ${errorText(error)}`,
          'refresh them (`aws sso login`, or new access keys) and check the system clock',
        ),
      );
      return findings;
    } else {
      findings.push(warn('ec2-permissions', `could not check: ${errorText(error)}`, 'check network access to EC2 in ' + o.region));
      return findings;
    }
  }

  let tagged: Instance[];
  try {
    tagged = await listTaggedInstances(client, o.maxInstances ?? 5000);
  } catch (error) {
    findings.push(
      warn(
        'imds',
        `could not list instances: ${errorText(error)}`,
        'check ec2:DescribeInstances and network access, then run doctor again',
      ),
    );
    return findings;
  }
  const members = tagged.filter((i) => tagsOf(i)[TAG_CLUSTER] === o.cluster);
  const strays = tagged.filter((i) => tagsOf(i)[TAG_CLUSTER] === undefined);
  findings.push(imdsFinding(o.cluster, [...members, ...strays]));
  findings.push(tagsFinding(o.cluster, members, strays));
  const ssm = o.ssmClient ?? new SSMClient({ region: o.region, maxAttempts: 2 });
  findings.push(await clusterSecretFinding(ssm, o.secretParameter ?? `/synkti/${o.cluster}/cluster-secret`, o.cluster));
  return findings;
}
