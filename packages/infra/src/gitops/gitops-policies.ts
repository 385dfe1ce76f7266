/**
 * The IAM policy documents of the two roles GitHub Actions assumes through OIDC:
 * - apply: trusted only from pushes to one branch of one repository; may create, change
 *   and delete what the serve/batch stacks are made of, and nothing else;
 * - preview: trusted from that repository's pull requests (and the branch, for the
 *   preview that precedes apply); reads only, plus the state bucket's lock files.
 * No statement allows `*` or a whole service (`ec2:*`); IAM writes are limited to the
 * project's own role names, managed-policy attachments to the few the stacks use, and
 * PassRole to the services that run the stacks' roles. `<ACCOUNT_ID>` is filled in by the
 * Pulumi program (or by hand) when the roles are created.
 */

export const ACCOUNT_ID_PLACEHOLDER = '<ACCOUNT_ID>';
export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';
export const GITHUB_OIDC_AUDIENCE = 'sts.amazonaws.com';

/** Managed policies the stacks attach to their own roles (see packages/infra/src/aws). */
export const STACK_MANAGED_POLICIES = [
  'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
  'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy',
  'arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role',
];

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Principal?: Record<string, string>;
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export interface GitopsPolicyOptions {
  /** GitHub repository, `owner/name`. */
  repo: string;
  /** The branch whose pushes apply. @default 'main' */
  branch: string;
  /** Name prefix of the stacks' resources (infra `projectName`). @default 'synkti' */
  project: string;
  /** Region the stacks live in; mutating statements are limited to it. */
  region: string;
}

export interface GitopsPolicies {
  applyTrust: PolicyDocument;
  applyPermissions: PolicyDocument;
  previewTrust: PolicyDocument;
  previewPermissions: PolicyDocument;
}

/** What the stacks read: describes and lists, plus the public AMI parameters. */
const READ_ACTIONS = [
  'ec2:Describe*',
  'autoscaling:Describe*',
  'application-autoscaling:Describe*',
  'cloudwatch:Describe*',
  'cloudwatch:GetDashboard',
  'cloudwatch:ListTagsForResource',
  'events:DescribeRule',
  'events:ListTargetsByRule',
  'events:ListTagsForResource',
  'logs:Describe*',
  'logs:ListTagsForResource',
  'logs:ListTagsLogGroup',
  'ecs:Describe*',
  'ecs:List*',
  'ecr:Describe*',
  'ecr:GetLifecyclePolicy',
  'ecr:ListTagsForResource',
  'elasticache:Describe*',
  'elasticache:ListTagsForResource',
  'elasticloadbalancing:Describe*',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ListQueueTags',
  'iam:GetRole',
  'iam:GetRolePolicy',
  'iam:GetInstanceProfile',
  'iam:ListRolePolicies',
  'iam:ListAttachedRolePolicies',
  'iam:ListInstanceProfilesForRole',
  'iam:GetPolicy',
  'iam:GetPolicyVersion',
  'sts:GetCallerIdentity',
];

function sub(repo: string, what: string): string {
  return `repo:${repo}:${what}`;
}

function trust(sid: string, subjects: string[]): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: sid,
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::${ACCOUNT_ID_PLACEHOLDER}:oidc-provider/${GITHUB_OIDC_HOST}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: {
            [`${GITHUB_OIDC_HOST}:aud`]: GITHUB_OIDC_AUDIENCE,
            // StringEquals, not StringLike: no wildcard can widen the subject.
            [`${GITHUB_OIDC_HOST}:sub`]: subjects.length === 1 ? subjects[0]! : subjects,
          },
        },
      },
    ],
  };
}

export function gitopsPolicies(o: GitopsPolicyOptions): GitopsPolicies {
  const acct = ACCOUNT_ID_PLACEHOLDER;
  const p = o.project;
  const inRegion = { StringEquals: { 'aws:RequestedRegion': o.region } };
  const stateBuckets = [`arn:aws:s3:::${p}-pulumi-state-*`];
  const stateKeyAlias = { 'ForAnyValue:StringLike': { 'kms:ResourceAliases': `alias/${p}-pulumi-*` } };
  const read: PolicyStatement[] = [
    { Sid: 'ReadWhatTheStacksDescribe', Effect: 'Allow', Action: READ_ACTIONS, Resource: '*' },
    {
      Sid: 'ResolvePublicAmiParameters',
      Effect: 'Allow',
      Action: ['ssm:GetParameter', 'ssm:GetParameters'],
      Resource: 'arn:aws:ssm:*::parameter/aws/service/*',
    },
    {
      Sid: 'ReadProjectBuckets',
      Effect: 'Allow',
      Action: [
        's3:ListBucket',
        's3:GetBucketLocation',
        's3:GetBucketVersioning',
        's3:GetBucketPolicy',
        's3:GetBucketPublicAccessBlock',
        's3:GetBucketOwnershipControls',
        's3:GetEncryptionConfiguration',
        's3:GetLifecycleConfiguration',
        's3:GetBucketTagging',
        's3:GetObject',
      ],
      Resource: [`arn:aws:s3:::${p}-*`, `arn:aws:s3:::${p}-*/*`],
    },
    { Sid: 'DecryptStackSecrets', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:DescribeKey'], Resource: '*', Condition: stateKeyAlias },
  ];

  const applyPermissions: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      ...read,
      {
        Sid: 'Ec2NetworkAndInstances',
        Effect: 'Allow',
        Resource: '*',
        Condition: inRegion,
        Action: [
          'ec2:CreateVpc',
          'ec2:DeleteVpc',
          'ec2:ModifyVpcAttribute',
          'ec2:CreateSubnet',
          'ec2:DeleteSubnet',
          'ec2:ModifySubnetAttribute',
          'ec2:CreateInternetGateway',
          'ec2:DeleteInternetGateway',
          'ec2:AttachInternetGateway',
          'ec2:DetachInternetGateway',
          'ec2:CreateNatGateway',
          'ec2:DeleteNatGateway',
          'ec2:AllocateAddress',
          'ec2:ReleaseAddress',
          'ec2:AssociateAddress',
          'ec2:DisassociateAddress',
          'ec2:CreateRouteTable',
          'ec2:DeleteRouteTable',
          'ec2:CreateRoute',
          'ec2:DeleteRoute',
          'ec2:ReplaceRoute',
          'ec2:AssociateRouteTable',
          'ec2:DisassociateRouteTable',
          'ec2:CreateSecurityGroup',
          'ec2:DeleteSecurityGroup',
          'ec2:AuthorizeSecurityGroupIngress',
          'ec2:AuthorizeSecurityGroupEgress',
          'ec2:RevokeSecurityGroupIngress',
          'ec2:RevokeSecurityGroupEgress',
          'ec2:ModifySecurityGroupRules',
          'ec2:UpdateSecurityGroupRuleDescriptionsIngress',
          'ec2:UpdateSecurityGroupRuleDescriptionsEgress',
          'ec2:CreateLaunchTemplate',
          'ec2:CreateLaunchTemplateVersion',
          'ec2:ModifyLaunchTemplate',
          'ec2:DeleteLaunchTemplate',
          'ec2:DeleteLaunchTemplateVersions',
          'ec2:RunInstances',
          'ec2:TerminateInstances',
          'ec2:ModifyInstanceAttribute',
          'ec2:ModifyInstanceMetadataOptions',
          'ec2:CreateTags',
          'ec2:DeleteTags',
        ],
      },
      {
        Sid: 'ScalingAndAlarms',
        Effect: 'Allow',
        Resource: '*',
        Condition: inRegion,
        Action: [
          'autoscaling:CreateAutoScalingGroup',
          'autoscaling:UpdateAutoScalingGroup',
          'autoscaling:DeleteAutoScalingGroup',
          'autoscaling:CreateOrUpdateTags',
          'autoscaling:DeleteTags',
          'autoscaling:SetInstanceProtection',
          'autoscaling:PutScalingPolicy',
          'autoscaling:DeletePolicy',
          'application-autoscaling:RegisterScalableTarget',
          'application-autoscaling:DeregisterScalableTarget',
          'application-autoscaling:PutScalingPolicy',
          'application-autoscaling:DeleteScalingPolicy',
          'application-autoscaling:TagResource',
          'cloudwatch:PutMetricAlarm',
          'cloudwatch:DeleteAlarms',
          'cloudwatch:PutDashboard',
          'cloudwatch:DeleteDashboards',
          'cloudwatch:TagResource',
          'cloudwatch:UntagResource',
          'events:PutRule',
          'events:DeleteRule',
          'events:PutTargets',
          'events:RemoveTargets',
          'events:TagResource',
          'events:UntagResource',
          'logs:CreateLogGroup',
          'logs:DeleteLogGroup',
          'logs:PutRetentionPolicy',
          'logs:DeleteRetentionPolicy',
          'logs:PutMetricFilter',
          'logs:DeleteMetricFilter',
          'logs:TagResource',
          'logs:UntagResource',
          'logs:TagLogGroup',
        ],
      },
      {
        Sid: 'ContainersCachesLoadBalancers',
        Effect: 'Allow',
        Resource: '*',
        Condition: inRegion,
        Action: [
          'ecs:CreateCluster',
          'ecs:DeleteCluster',
          'ecs:UpdateCluster',
          'ecs:UpdateClusterSettings',
          'ecs:PutClusterCapacityProviders',
          'ecs:CreateCapacityProvider',
          'ecs:UpdateCapacityProvider',
          'ecs:DeleteCapacityProvider',
          'ecs:RegisterTaskDefinition',
          'ecs:DeregisterTaskDefinition',
          'ecs:CreateService',
          'ecs:UpdateService',
          'ecs:DeleteService',
          'ecs:TagResource',
          'ecs:UntagResource',
          'elasticache:CreateReplicationGroup',
          'elasticache:ModifyReplicationGroup',
          'elasticache:DeleteReplicationGroup',
          'elasticache:CreateCacheSubnetGroup',
          'elasticache:ModifyCacheSubnetGroup',
          'elasticache:DeleteCacheSubnetGroup',
          'elasticache:AddTagsToResource',
          'elasticache:RemoveTagsFromResource',
          'elasticloadbalancing:CreateLoadBalancer',
          'elasticloadbalancing:DeleteLoadBalancer',
          'elasticloadbalancing:ModifyLoadBalancerAttributes',
          'elasticloadbalancing:SetSecurityGroups',
          'elasticloadbalancing:SetSubnets',
          'elasticloadbalancing:CreateTargetGroup',
          'elasticloadbalancing:DeleteTargetGroup',
          'elasticloadbalancing:ModifyTargetGroup',
          'elasticloadbalancing:ModifyTargetGroupAttributes',
          'elasticloadbalancing:RegisterTargets',
          'elasticloadbalancing:DeregisterTargets',
          'elasticloadbalancing:CreateListener',
          'elasticloadbalancing:DeleteListener',
          'elasticloadbalancing:ModifyListener',
          'elasticloadbalancing:AddTags',
          'elasticloadbalancing:RemoveTags',
        ],
      },
      {
        Sid: 'ProjectRepositoriesAndQueues',
        Effect: 'Allow',
        Action: [
          'ecr:CreateRepository',
          'ecr:DeleteRepository',
          'ecr:PutLifecyclePolicy',
          'ecr:DeleteLifecyclePolicy',
          'ecr:PutImageScanningConfiguration',
          'ecr:PutImageTagMutability',
          'ecr:TagResource',
          'ecr:UntagResource',
          'sqs:CreateQueue',
          'sqs:DeleteQueue',
          'sqs:SetQueueAttributes',
          'sqs:TagQueue',
          'sqs:UntagQueue',
        ],
        Resource: [`arn:aws:ecr:${o.region}:${acct}:repository/${p}*`, `arn:aws:sqs:${o.region}:${acct}:${p}*`],
      },
      {
        Sid: 'ProjectBuckets',
        Effect: 'Allow',
        Action: [
          's3:CreateBucket',
          's3:PutBucketVersioning',
          's3:PutBucketPolicy',
          's3:PutBucketPublicAccessBlock',
          's3:PutBucketOwnershipControls',
          's3:PutEncryptionConfiguration',
          's3:PutLifecycleConfiguration',
          's3:PutBucketTagging',
          's3:PutObject',
          's3:DeleteObject',
        ],
        Resource: [`arn:aws:s3:::${p}-*`, `arn:aws:s3:::${p}-*/*`],
      },
      // The models and state buckets are kept on destroy (docs/security.md "Least privilege on AWS"): CI can never delete them.
      {
        Sid: 'NeverDeleteProjectBuckets',
        Effect: 'Deny',
        Action: ['s3:DeleteBucket', 's3:DeleteBucketPolicy'],
        Resource: `arn:aws:s3:::${p}-*`,
      },
      {
        Sid: 'ProjectRolesOnly',
        Effect: 'Allow',
        Action: [
          'iam:CreateRole',
          'iam:DeleteRole',
          'iam:UpdateRole',
          'iam:UpdateAssumeRolePolicy',
          'iam:TagRole',
          'iam:UntagRole',
          'iam:PutRolePolicy',
          'iam:DeleteRolePolicy',
          'iam:CreateInstanceProfile',
          'iam:DeleteInstanceProfile',
          'iam:AddRoleToInstanceProfile',
          'iam:RemoveRoleFromInstanceProfile',
          'iam:TagInstanceProfile',
          'iam:UntagInstanceProfile',
        ],
        Resource: [`arn:aws:iam::${acct}:role/${p}-*`, `arn:aws:iam::${acct}:instance-profile/${p}-*`],
      },
      {
        Sid: 'AttachOnlyTheStacksManagedPolicies',
        Effect: 'Allow',
        Action: ['iam:AttachRolePolicy', 'iam:DetachRolePolicy'],
        Resource: `arn:aws:iam::${acct}:role/${p}-*`,
        Condition: { ArnEquals: { 'iam:PolicyARN': STACK_MANAGED_POLICIES } },
      },
      {
        Sid: 'PassProjectRolesToTheirServices',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: `arn:aws:iam::${acct}:role/${p}-*`,
        Condition: { StringEquals: { 'iam:PassedToService': ['ec2.amazonaws.com', 'ecs-tasks.amazonaws.com', 'ecs.amazonaws.com'] } },
      },
      {
        Sid: 'ServiceLinkedRolesOfTheStacksServices',
        Effect: 'Allow',
        Action: 'iam:CreateServiceLinkedRole',
        Resource: '*',
        Condition: {
          StringEquals: {
            'iam:AWSServiceName': [
              'autoscaling.amazonaws.com',
              'ecs.amazonaws.com',
              'elasticloadbalancing.amazonaws.com',
              'elasticache.amazonaws.com',
              'spot.amazonaws.com',
            ],
          },
        },
      },
      {
        Sid: 'EncryptStackSecrets',
        Effect: 'Allow',
        Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: '*',
        Condition: stateKeyAlias,
      },
    ],
  };

  const previewPermissions: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      ...read,
      // Pulumi's S3 backend takes a lock file even for a preview.
      {
        Sid: 'StackLockFiles',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:DeleteObject'],
        Resource: stateBuckets.map((b) => `${b}/.pulumi/locks/*`),
      },
    ],
  };

  return {
    applyTrust: trust('ApplyFromBranchOnly', [sub(o.repo, `ref:refs/heads/${o.branch}`)]),
    applyPermissions,
    previewTrust: trust('PreviewFromPullRequestsAndBranch', [sub(o.repo, 'pull_request'), sub(o.repo, `ref:refs/heads/${o.branch}`)]),
    previewPermissions,
  };
}
