/**
 * From wire requests to the authorizations AWS makes for them, without a server: the
 * action, resource and condition context each protocol yields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationChecks, missingContextKeys, type DerivationContext, type ResourceLookup } from './iam-actions.ts';
import { parseAwsRequest } from './iam-request.ts';

const ACCT = '123456789012';
const AUTH = (service: string): Record<string, string> => ({
  authorization: `AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261207/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=00`,
  'x-amz-security-token': 'tok',
});

const lookup: ResourceLookup = {
  async ec2Tags(ids) {
    const tags: Record<string, Record<string, string>> = { 'i-own': { SynktiCluster: 'c1' }, 'subnet-1': { Tier: 'private' } };
    return new Map(ids.filter((id) => tags[id]).map((id) => [id, tags[id]!]));
  },
  async instanceProfile(ref) {
    return ref.endsWith('c1-worker')
      ? { arn: `arn:aws:iam::${ACCT}:instance-profile/c1-worker`, roleArn: `arn:aws:iam::${ACCT}:role/c1-worker` }
      : undefined;
  },
  async subnetVpc(id) {
    return id === 'subnet-1' ? 'vpc-1' : undefined;
  },
  async elbTags() {
    return new Map();
  },
  async ssmParameterKey(name) {
    return name === '/synkti/c1/cluster-secret' ? `arn:aws:kms:us-east-1:${ACCT}:key/k-1` : undefined;
  },
};
const d: DerivationContext = {
  account: ACCT,
  lookup,
  principalContext: { 'aws:PrincipalArn': `arn:aws:iam::${ACCT}:role/c1-worker` },
  now: new Date('2026-12-07T10:00:00Z'),
};

function query(service: string, params: Record<string, string>) {
  return parseAwsRequest({
    method: 'POST',
    url: new URL('http://p/'),
    headers: { ...AUTH(service), 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: Buffer.from(new URLSearchParams(params).toString()),
  });
}

test('RunInstances: one check per resource type it touches, tags at launch, PassRole of the profile role', async () => {
  const req = query('ec2', {
    Action: 'RunInstances',
    ImageId: 'ami-1',
    InstanceType: 'g5.xlarge',
    MinCount: '1',
    MaxCount: '1',
    SubnetId: 'subnet-1',
    'SecurityGroupId.1': 'sg-1',
    'IamInstanceProfile.Arn': `arn:aws:iam::${ACCT}:instance-profile/c1-worker`,
    'InstanceMarketOptions.MarketType': 'spot',
    'MetadataOptions.HttpTokens': 'required',
    'TagSpecification.1.ResourceType': 'instance',
    'TagSpecification.1.Tag.1.Key': 'SynktiCluster',
    'TagSpecification.1.Tag.1.Value': 'c1',
    'TagSpecification.2.ResourceType': 'volume',
    'TagSpecification.2.Tag.1.Key': 'SynktiCluster',
    'TagSpecification.2.Tag.1.Value': 'c1',
  });
  const checks = await authorizationChecks(req, d);
  assert.deepEqual(
    checks.map((c) => `${c.action} ${c.resource}`),
    [
      `ec2:RunInstances arn:aws:ec2:us-east-1:${ACCT}:instance/*`,
      `ec2:RunInstances arn:aws:ec2:us-east-1:${ACCT}:volume/*`,
      `ec2:RunInstances arn:aws:ec2:us-east-1:${ACCT}:network-interface/*`,
      `ec2:RunInstances arn:aws:ec2:us-east-1:${ACCT}:subnet/subnet-1`,
      `ec2:RunInstances arn:aws:ec2:us-east-1:${ACCT}:security-group/sg-1`,
      'ec2:RunInstances arn:aws:ec2:us-east-1::image/ami-1',
      `ec2:RunInstances arn:aws:ec2:us-east-1:${ACCT}:spot-instances-request/*`,
      `ec2:CreateTags arn:aws:ec2:us-east-1:${ACCT}:instance/*`,
      `ec2:CreateTags arn:aws:ec2:us-east-1:${ACCT}:volume/*`,
      `iam:PassRole arn:aws:iam::${ACCT}:role/c1-worker`,
    ],
  );
  const [instance, , eni, subnet] = checks;
  assert.equal(instance!.context['aws:RequestTag/SynktiCluster'], 'c1');
  assert.deepEqual(instance!.context['aws:TagKeys'], ['SynktiCluster']);
  assert.equal(instance!.context['ec2:InstanceProfile'], `arn:aws:iam::${ACCT}:instance-profile/c1-worker`);
  assert.equal(instance!.context['ec2:InstanceMarketType'], 'spot');
  assert.equal(eni!.context['aws:TagKeys'], undefined, 'no network-interface tags in the request');
  assert.equal(subnet!.context['ec2:Vpc'], `arn:aws:ec2:us-east-1:${ACCT}:vpc/vpc-1`);
  assert.equal(subnet!.context['ec2:ResourceTag/Tier'], 'private');
  assert.equal(checks[7]!.context['ec2:CreateAction'], 'RunInstances');
  assert.equal(checks[9]!.context['iam:PassedToService'], 'ec2.amazonaws.com');
  assert.equal(instance!.context['aws:RequestedRegion'], 'us-east-1');
  assert.equal(instance!.context['aws:SecureTransport'], 'true');
});

test('CreateTags/DeleteTags carry the resource tags; DeleteTags without keys has no aws:TagKeys', async () => {
  const [tag] = await authorizationChecks(
    query('ec2', { Action: 'CreateTags', 'ResourceId.1': 'i-own', 'Tag.1.Key': 'SynktiState', 'Tag.1.Value': 'ready' }),
    d,
  );
  assert.equal(tag!.resource, `arn:aws:ec2:us-east-1:${ACCT}:instance/i-own`);
  assert.equal(tag!.context['aws:ResourceTag/SynktiCluster'], 'c1');
  assert.deepEqual(tag!.context['aws:TagKeys'], ['SynktiState']);
  const [untagAll] = await authorizationChecks(query('ec2', { Action: 'DeleteTags', 'ResourceId.1': 'i-own' }), d);
  assert.equal(untagAll!.action, 'ec2:DeleteTags');
  assert.equal('aws:TagKeys' in untagAll!.context, false);
  const [describe] = await authorizationChecks(query('ec2', { Action: 'DescribeInstances', 'Filter.1.Name': 'tag:SynktiCluster' }), d);
  assert.deepEqual([describe!.action, describe!.resource], ['ec2:DescribeInstances', '*']);
});

test('S3 REST: method and sub-resource to the IAM action; presigned URLs name their signer', async () => {
  const s3 = async (method: string, path: string, headers: Record<string, string> = AUTH('s3')) =>
    (await authorizationChecks(parseAwsRequest({ method, url: new URL(`http://p${path}`), headers, body: undefined }), d)).map(
      (c) => `${c.action} ${c.resource}`,
    );
  assert.deepEqual(await s3('GET', '/b/artifacts/agent'), ['s3:GetObject arn:aws:s3:::b/artifacts/agent']);
  assert.deepEqual(await s3('HEAD', '/b/k'), ['s3:GetObject arn:aws:s3:::b/k']);
  assert.deepEqual(await s3('HEAD', '/b'), ['s3:ListBucket arn:aws:s3:::b']);
  assert.deepEqual(await s3('PUT', '/b/a%20b?partNumber=1&uploadId=u'), ['s3:PutObject arn:aws:s3:::b/a b']);
  assert.deepEqual(await s3('POST', '/b/k?uploads'), ['s3:PutObject arn:aws:s3:::b/k']);
  assert.deepEqual(await s3('DELETE', '/b/k?uploadId=u'), ['s3:AbortMultipartUpload arn:aws:s3:::b/k']);
  assert.deepEqual(await s3('GET', '/b/k?versionId=v'), ['s3:GetObjectVersion arn:aws:s3:::b/k']);
  assert.deepEqual(await s3('PUT', '/b?publicAccessBlock'), ['s3:PutBucketPublicAccessBlock arn:aws:s3:::b']);
  assert.deepEqual(await s3('GET', '/'), ['s3:ListAllMyBuckets *']);
  assert.deepEqual(await s3('PUT', '/b/dst', { ...AUTH('s3'), 'x-amz-copy-source': '/src/key' }), [
    's3:PutObject arn:aws:s3:::b/dst',
    's3:GetObject arn:aws:s3:::src/key',
  ]);
  const list = parseAwsRequest({
    method: 'GET',
    url: new URL('http://p/b?list-type=2&prefix=models%2F'),
    headers: AUTH('s3'),
    body: undefined,
  });
  assert.equal((await authorizationChecks(list, d))[0]!.context['s3:prefix'], 'models/');
  const presigned = parseAwsRequest({
    method: 'GET',
    url: new URL('http://p/b/k?X-Amz-Credential=ASIAPRESIGNED%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token=t'),
    headers: {},
    body: undefined,
  });
  assert.deepEqual([presigned.signedBy?.accessKeyId, presigned.signedBy?.sessionToken], ['ASIAPRESIGNED', 't']);
});

test('JSON protocols: X-Amz-Target names the action, the body the resource', async () => {
  const json = (service: string, target: string, body: unknown) =>
    parseAwsRequest({
      method: 'POST',
      url: new URL('http://p/'),
      headers: { ...AUTH(service), 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.1' },
      body: Buffer.from(JSON.stringify(body)),
    });
  const [param, decrypt] = await authorizationChecks(
    json('ssm', 'AmazonSSM.GetParameter', { Name: '/synkti/c1/cluster-secret', WithDecryption: true }),
    d,
  );
  assert.deepEqual(
    [param!.action, param!.resource],
    ['ssm:GetParameter', `arn:aws:ssm:us-east-1:${ACCT}:parameter/synkti/c1/cluster-secret`],
  );
  // A customer-key SecureString also needs kms:Decrypt, made by SSM on the caller's behalf.
  assert.deepEqual(
    [decrypt!.action, decrypt!.resource, decrypt!.context['kms:ViaService']],
    ['kms:Decrypt', `arn:aws:kms:us-east-1:${ACCT}:key/k-1`, 'ssm.us-east-1.amazonaws.com'],
  );
  assert.equal(
    (await authorizationChecks(json('ssm', 'AmazonSSM.GetParameter', { Name: '/synkti/c1/cluster-secret' }), d)).length,
    1,
    'no decryption, no kms:Decrypt',
  );
  const [queue] = await authorizationChecks(
    json('sqs', 'AmazonSQS.SendMessage', { QueueUrl: `https://sqs.us-east-1.amazonaws.com/${ACCT}/tasks`, MessageBody: 'x' }),
    d,
  );
  assert.deepEqual([queue!.action, queue!.resource], ['sqs:SendMessage', `arn:aws:sqs:us-east-1:${ACCT}:tasks`]);
  const [who] = await authorizationChecks(query('sts', { Action: 'GetCallerIdentity' }), d);
  assert.equal(who!.alwaysAllowed, true);
  const [metric] = await authorizationChecks(query('monitoring', { Action: 'PutMetricData', Namespace: 'Synkti/Batch' }), d);
  assert.deepEqual([metric!.action, metric!.context['cloudwatch:namespace']], ['cloudwatch:PutMetricData', 'Synkti/Batch']);
});

test('missingContextKeys: keys a statement for this action and resource needs but the check did not derive', async () => {
  const [terminate] = await authorizationChecks(query('ec2', { Action: 'TerminateInstances', 'InstanceId.1': 'i-own' }), d);
  const statements = [
    {
      Action: 'ec2:TerminateInstances',
      Resource: `arn:aws:ec2:us-east-1:${ACCT}:instance/*`,
      Condition: { StringEquals: { 'aws:ResourceTag/SynktiCluster': 'c1', 'aws:SourceVpc': 'vpc-1' } },
    },
    {
      Action: 'ec2:TerminateInstances',
      Resource: `arn:aws:ec2:us-east-1:${ACCT}:volume/*`,
      Condition: { StringEquals: { 'ec2:Encrypted': 'true' } },
    },
    { Action: 's3:*', Resource: '*', Condition: { StringEquals: { 's3:prefix': 'x' } } },
  ];
  assert.deepEqual(missingContextKeys(terminate!, statements), ['aws:SourceVpc']);
});
