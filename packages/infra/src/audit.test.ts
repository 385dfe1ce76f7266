/**
 * The audit: every component in every environment passes; each reference defect, built
 * on purpose, is caught by its rule; Pulumi's preview/export JSON is read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditResources, formatAuditReport, resourcesFromPulumiJson } from './audit/audit.ts';
import type { AuditResource } from './audit/audit-rules.ts';
import { auditInfraConfig } from './infra-program.ts';

const SHA = 'cd'.repeat(32);

for (const stack of ['dev', 'staging', 'production']) {
  test(`${stack}: serve (with a load balancer) and batch stacks pass every rule with no warning`, async () => {
    const { report, resources } = await auditInfraConfig(
      {
        serve: {
          workerCount: 2,
          boot: { agentVersion: '0.1.0', agentSha256: SHA, nodeVersion: '20.18.1', nodeSha256: SHA },
          loadBalancer: { certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/x' },
        },
        batch: { redis: { authToken: 'token-of-twenty-chars' } },
      },
      { stack },
    );
    assert.ok(resources.length > 60, `rendered ${resources.length} resources`);
    assert.deepEqual(report.findings, []);
    assert.equal(report.passed, true);
    assert.ok(report.rules.includes('ssh-open') && report.rules.length >= 10);
  });
}

test('SSH from 0.0.0.0/0 (the reference default) fails the audit', async () => {
  const { report } = await auditInfraConfig({ serve: { sshCidrBlocks: ['0.0.0.0/0'] } }, { components: ['serve'] });
  assert.equal(report.passed, false);
  assert.deepEqual(
    report.findings.map((f) => [f.rule, f.severity, f.resource]),
    [['ssh-open', 'error', 'aws:ec2/securityGroup:SecurityGroup::serve-worker']],
  );
  assert.match(formatAuditReport(report), /FAIL {2}ssh-open.*\n.*open to 0\.0\.0\.0\/0[\s\S]*FAILED: .* 1 error/);
});

test('the router opened to the world (not through a load balancer) fails; 80/443 on a load balancer passes', async () => {
  const open = await auditInfraConfig({ serve: { allowedCidrBlocks: ['0.0.0.0/0'] } }, { components: ['serve'] });
  assert.deepEqual(
    open.report.findings.map((f) => [f.rule, f.message]),
    [['world-ingress', 'ports 8080-8080/tcp are open to the world']],
  );
  const lb = await auditInfraConfig({ serve: { loadBalancer: {} } }, { components: ['serve'] });
  assert.equal(lb.report.passed, true);
});

function res(type: string, name: string, inputs: Record<string, unknown>, id?: string): AuditResource {
  return { type, name, inputs, id: id ?? name };
}

test('each reference defect built by hand is caught by its rule', () => {
  const cases: Array<[string, AuditResource[]]> = [
    [
      'ssh-open',
      [
        res('aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule', 'ssh', {
          securityGroupId: 'sg-1',
          ipProtocol: 'tcp',
          fromPort: 22,
          toPort: 22,
          cidrIpv4: '0.0.0.0/0',
        }),
      ],
    ],
    [
      'world-ingress',
      [
        res('aws:ec2/securityGroup:SecurityGroup', 'model', {
          ingress: [{ protocol: 'tcp', fromPort: 8000, toPort: 8000, cidrBlocks: ['0.0.0.0/0'] }],
        }),
      ],
    ],
    [
      'world-ingress',
      [
        res('aws:ec2/securityGroupRule:SecurityGroupRule', 'db-proxy', {
          type: 'ingress',
          securityGroupId: 'sg-1',
          protocol: 'tcp',
          fromPort: 5432,
          toPort: 5432,
          ipv6CidrBlocks: ['::/0'],
        }),
      ],
    ],
    ['imds-v1', [res('aws:ec2/launchTemplate:LaunchTemplate', 'lt', { metadataOptions: { httpTokens: 'optional' } })]],
    [
      'unencrypted-volume',
      [
        res('aws:ec2/launchTemplate:LaunchTemplate', 'lt', {
          metadataOptions: { httpTokens: 'required' },
          blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { volumeSize: 100 } }],
        }),
      ],
    ],
    [
      'bucket-encryption',
      [
        res('aws:s3/bucket:Bucket', 'b', { bucket: 'b' }),
        res('aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock', 'p', {
          bucket: 'b',
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        }),
      ],
    ],
    [
      'bucket-public',
      [
        res('aws:s3/bucket:Bucket', 'b', { bucket: 'b' }),
        res('aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration', 'e', { bucket: 'b', rules: [] }),
      ],
    ],
    [
      'iam-wildcard',
      [
        res('aws:iam/rolePolicy:RolePolicy', 'worker', {
          policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ec2:*', 's3:*'], Resource: '*' }] }),
        }),
      ],
    ],
    [
      'iam-broad-managed-policy',
      [
        res('aws:iam/rolePolicyAttachment:RolePolicyAttachment', 'ci-admin', {
          role: 'ci',
          policyArn: 'arn:aws:iam::aws:policy/AdministratorAccess',
        }),
      ],
    ],
    ['long-lived-keys', [res('aws:iam/accessKey:AccessKey', 'coordinator', { user: 'coordinator' })]],
    [
      'plain-secret-env',
      [
        res('aws:ecs/taskDefinition:TaskDefinition', 'td', {
          containerDefinitions: JSON.stringify([{ name: 'w', environment: [{ name: 'REDIS_PASSWORD', value: 'x' }] }]),
        }),
      ],
    ],
    [
      'spot-template-in-mixed-group',
      [
        res(
          'aws:ec2/launchTemplate:LaunchTemplate',
          'lt',
          { metadataOptions: { httpTokens: 'required' }, instanceMarketOptions: { marketType: 'spot' } },
          'lt-1',
        ),
        res('aws:autoscaling/group:Group', 'asg', {
          mixedInstancesPolicy: { launchTemplate: { launchTemplateSpecification: { launchTemplateId: 'lt-1' } } },
        }),
      ],
    ],
    ['lb-without-listener', [res('aws:lb/loadBalancer:LoadBalancer', 'alb', { securityGroups: [] })]],
    ['queue-encryption', [res('aws:sqs/queue:Queue', 'q', {})]],
    ['ecr-scan', [res('aws:ecr/repository:Repository', 'r', {})]],
    ['log-retention', [res('aws:cloudwatch/logGroup:LogGroup', 'g', {})]],
  ];
  for (const [rule, resources] of cases) {
    const report = auditResources(resources);
    assert.deepEqual([...new Set(report.findings.map((f) => f.rule))], [rule], `${rule}: ${JSON.stringify(report.findings)}`);
    const severity = report.findings[0]?.severity;
    assert.equal(report.passed, severity === 'warning', `${rule} ${severity === 'error' ? 'fails' : 'only warns'}`);
  }
  // A conditioned `Resource: "*"` (DescribeInstances has no resource-level permissions) is fine.
  const scoped = auditResources([
    res('aws:iam/rolePolicy:RolePolicy', 'p', {
      policy: JSON.stringify({
        Statement: [
          {
            Effect: 'Allow',
            Action: 'ec2:DescribeInstances',
            Resource: '*',
            Condition: { StringEquals: { 'aws:RequestedRegion': 'us-east-1' } },
          },
        ],
      }),
    }),
  ]);
  assert.equal(scoped.passed, true);
  assert.equal(
    auditResources([res('aws:ec2/securityGroup:SecurityGroup', 'x', {})], { skip: ['world-ingress'] }).rules.includes('world-ingress'),
    false,
  );
});

test('reads pulumi preview --json and pulumi stack export', () => {
  const sg = {
    type: 'aws:ec2/securityGroup:SecurityGroup',
    urn: 'urn:pulumi:dev::p::aws:ec2/securityGroup:SecurityGroup::open',
    inputs: { ingress: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['0.0.0.0/0'] }] },
  };
  const preview = JSON.stringify({
    steps: [
      { op: 'create', urn: sg.urn, newState: sg },
      { op: 'delete', urn: 'x', newState: { ...sg, urn: 'urn:pulumi:dev::p::t::gone' } },
    ],
  });
  const fromPreview = resourcesFromPulumiJson(preview);
  assert.deepEqual(
    fromPreview.map((r) => r.name),
    ['open'],
  );
  assert.equal(auditResources(fromPreview).findings[0]?.rule, 'ssh-open');
  const exported = JSON.stringify({ version: 3, deployment: { resources: [{ ...sg, protect: true }] } });
  assert.equal(resourcesFromPulumiJson(exported)[0]?.protect, true);
  // Group ids are unknown in a preview: a web-only world rule next to a load balancer only warns.
  const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
  const albSg = {
    type: 'aws:ec2/securityGroup:SecurityGroup',
    urn: 'urn:pulumi:dev::p::aws:ec2/securityGroup:SecurityGroup::alb',
    inputs: { ingress: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }] },
  };
  const alb = {
    type: 'aws:lb/loadBalancer:LoadBalancer',
    urn: 'urn:pulumi:dev::p::aws:lb/loadBalancer:LoadBalancer::alb',
    inputs: { securityGroups: [UNKNOWN] },
  };
  const listener = {
    type: 'aws:lb/listener:Listener',
    urn: 'urn:pulumi:dev::p::aws:lb/listener:Listener::https',
    inputs: { loadBalancerArn: UNKNOWN, port: 443 },
  };
  const web = auditResources(
    resourcesFromPulumiJson(JSON.stringify({ steps: [albSg, alb, listener].map((n) => ({ op: 'create', urn: n.urn, newState: n })) })),
  );
  assert.deepEqual(
    web.findings.map((f) => [f.rule, f.severity]),
    [['world-ingress', 'warning']],
  );
  assert.equal(web.passed, true);
  assert.throws(() => resourcesFromPulumiJson('{"nothing": 1}', 'plan.json'), /plan\.json holds no Pulumi resources/);
  assert.throws(() => resourcesFromPulumiJson('nope', 'plan.json'), /plan\.json is not JSON/);
});
