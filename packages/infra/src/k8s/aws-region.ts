/**
 * One region of a Talos cluster on AWS: its own provider (and `region` on every resource),
 * security groups open only inside the VPC (plus admin blocks), an internal network load
 * balancer with TCP listeners for the Kubernetes (6443) and Talos (50000) APIs,
 * on-demand control-plane instances (never spot), and worker pools as Auto Scaling
 * groups: the stateless pool with a mixed-instances policy (on-demand base, spot above,
 * price-capacity-optimized, several Graviton types, capacity rebalancing) and an
 * on-demand launch template (spot options in it are rejected by AWS in a mixed group);
 * the stateful pool on-demand only. IMDSv2 required, volumes encrypted.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { policyJson } from '../aws/iam-policy.ts';
import { K8S_API_PORT, K8S_ROLES, TALOS_API_PORT, TALOS_TRUSTD_PORT } from './k8s-plan.ts';
import type { RegionBuildContext, RegionBuildResult } from './region-builder.ts';

const METADATA = { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 2, instanceMetadataTags: 'enabled' } as const;
const ROOT_DEVICE = '/dev/xvda';

export function buildAwsRegion(ctx: RegionBuildContext): RegionBuildResult {
  const { region, plan } = ctx;
  const n = `${ctx.name}-${region.key}`;
  const provider = new aws.Provider(`${n}-aws`, { region: region.providerRegion as aws.Region }, { parent: ctx.parent });
  const o = { parent: ctx.parent, provider };
  const r = { region: region.providerRegion };
  const tags = { ...ctx.tags, [TAG_CLUSTER]: region.clusterName };

  const vpcId = region.awsNetwork ? pulumi.output(region.awsNetwork.vpcId) : aws.ec2.getVpcOutput({ default: true, ...r }, o).id;
  const vpcCidr = aws.ec2.getVpcOutput({ id: vpcId, ...r }, o).cidrBlock;
  const subnetIds: pulumi.Output<string[]> = region.awsNetwork
    ? pulumi.output(region.awsNetwork.subnetIds)
    : aws.ec2.getSubnetsOutput(
        {
          filters: [
            { name: 'vpc-id', values: [vpcId] },
            { name: 'default-for-az', values: ['true'] },
          ],
          ...r,
        },
        o,
      ).ids;
  const inside = vpcCidr.apply((cidr): string[] => [cidr, ...plan.adminCidrs]);

  // --- security groups: nothing from the world --------------------------------------
  const lbSg = new aws.ec2.SecurityGroup(
    `${n}-cp-lb`,
    {
      ...r,
      vpcId,
      name: `${region.clusterName}-cp-lb`,
      description: `Internal control-plane load balancer of ${region.clusterName}`,
      ingress: [K8S_API_PORT, TALOS_API_PORT].map((port) => ({
        protocol: 'tcp',
        fromPort: port,
        toPort: port,
        cidrBlocks: inside,
        description: port === K8S_API_PORT ? 'Kubernetes API from the VPC' : 'Talos API from the VPC',
      })),
      egress: [K8S_API_PORT, TALOS_API_PORT].map((port) => ({
        protocol: 'tcp',
        fromPort: port,
        toPort: port,
        cidrBlocks: [vpcCidr],
        description: 'to the control planes',
      })),
      tags,
    },
    o,
  );
  const nodesSg = new aws.ec2.SecurityGroup(
    `${n}-nodes`,
    {
      ...r,
      vpcId,
      name: `${region.clusterName}-nodes`,
      description: `Nodes of ${region.clusterName}: node to node only`,
      ingress: [{ protocol: '-1', fromPort: 0, toPort: 0, self: true, description: 'node to node (kubelet, CNI, trustd)' }],
      egress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'], description: 'image pulls, AWS APIs' }],
      tags,
    },
    o,
  );
  const cpSg = new aws.ec2.SecurityGroup(
    `${n}-control-plane`,
    {
      ...r,
      vpcId,
      name: `${region.clusterName}-control-plane`,
      description: `Control planes of ${region.clusterName}: APIs from the load balancer and the VPC`,
      ingress: [
        ...[K8S_API_PORT, TALOS_API_PORT].map((port) => ({
          protocol: 'tcp',
          fromPort: port,
          toPort: port,
          securityGroups: [lbSg.id],
          description: 'from the control-plane load balancer',
        })),
        ...[K8S_API_PORT, TALOS_API_PORT, TALOS_TRUSTD_PORT].map((port) => ({
          protocol: 'tcp',
          fromPort: port,
          toPort: port,
          cidrBlocks: [vpcCidr],
          description: 'from the VPC (load balancer health checks, nodes)',
        })),
      ],
      egress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'], description: 'image pulls, AWS APIs' }],
      tags,
    },
    o,
  );

  // --- control-plane load balancer with its listeners -------------------------------
  const lb = new aws.lb.LoadBalancer(
    `${n}-cp`,
    {
      ...r,
      name: `${region.clusterName}-cp`.slice(0, 32),
      loadBalancerType: 'network',
      internal: true,
      subnets: subnetIds,
      securityGroups: [lbSg.id],
      enableCrossZoneLoadBalancing: true,
      enableDeletionProtection: plan.deletionProtection,
      tags,
    },
    o,
  );
  const targetGroups = [K8S_API_PORT, TALOS_API_PORT].map((port) => {
    const tg = new aws.lb.TargetGroup(
      `${n}-cp-${port}`,
      {
        ...r,
        name: `${region.clusterName}-${port}`.slice(0, 32),
        port,
        protocol: 'TCP',
        targetType: 'instance',
        vpcId,
        healthCheck: { protocol: 'TCP', port: String(port), healthyThreshold: 3, unhealthyThreshold: 3, interval: 10 },
        tags,
      },
      o,
    );
    new aws.lb.Listener(
      `${n}-cp-${port}`,
      { ...r, loadBalancerArn: lb.arn, port, protocol: 'TCP', defaultActions: [{ type: 'forward', targetGroupArn: tg.arn }], tags },
      o,
    );
    return tg;
  });

  // --- control planes: on-demand instances, one per zone in turn -------------------
  const rootEbs = {
    encrypted: true,
    volumeType: 'gp3',
    volumeSize: plan.rootVolumeGiB,
    ...(ctx.kmsKeyId !== undefined ? { kmsKeyId: ctx.kmsKeyId } : {}),
  };
  for (let i = 0; i < region.controlPlane.count; i++) {
    const instance = new aws.ec2.Instance(
      `${n}-cp-${i}`,
      {
        ...r,
        ami: region.image as pulumi.Input<string>,
        instanceType: region.controlPlane.machine.type,
        subnetId: subnetIds.apply((ids) => ids[i % ids.length] as string),
        vpcSecurityGroupIds: [nodesSg.id, cpSg.id],
        metadataOptions: METADATA,
        rootBlockDevice: rootEbs,
        ...(ctx.userData.controlPlane !== undefined ? { userData: ctx.userData.controlPlane } : {}),
        disableApiTermination: plan.deletionProtection,
        tags: { ...tags, Name: `${region.clusterName}-cp-${i}`, [TAG_ROLE]: K8S_ROLES.controlPlane },
        volumeTags: { ...tags, [TAG_ROLE]: K8S_ROLES.controlPlane },
      },
      o,
    );
    targetGroups.forEach(
      (tg, j) => new aws.lb.TargetGroupAttachment(`${n}-cp-${i}-${j}`, { ...r, targetGroupArn: tg.arn, targetId: instance.id }, o),
    );
  }

  // --- worker pools ------------------------------------------------------------------
  for (const pool of region.pools) {
    const roleTags = { ...tags, [TAG_ROLE]: K8S_ROLES[pool.role === 'worker' ? 'worker' : 'stateful'] };
    const lt = new aws.ec2.LaunchTemplate(
      `${n}-${pool.name}`,
      {
        ...r,
        namePrefix: `${region.clusterName}-${pool.name}-`,
        imageId: region.image as pulumi.Input<string>,
        instanceType: pool.machine.type,
        // No instanceMarketOptions: the group's instancesDistribution decides spot.
        vpcSecurityGroupIds: [nodesSg.id],
        metadataOptions: METADATA,
        blockDeviceMappings: [
          {
            deviceName: ROOT_DEVICE,
            ebs: {
              encrypted: 'true',
              volumeType: 'gp3',
              volumeSize: plan.rootVolumeGiB,
              deleteOnTermination: 'true',
              ...(ctx.kmsKeyId !== undefined ? { kmsKeyId: ctx.kmsKeyId } : {}),
            },
          },
        ],
        ...(ctx.userData.worker !== undefined
          ? { userData: ctx.userData.worker.apply((t) => Buffer.from(t, 'utf8').toString('base64')) }
          : {}),
        tagSpecifications: ['instance', 'volume', 'network-interface'].map((resourceType) => ({ resourceType, tags: roleTags })),
        updateDefaultVersion: true,
        tags: roleTags,
      },
      o,
    );
    const types = [pool.machine.type, ...(pool.machine.spotAlternatives ?? [])];
    new aws.autoscaling.Group(
      `${n}-${pool.name}`,
      {
        ...r,
        namePrefix: `${region.clusterName}-${pool.name}-`,
        minSize: pool.count,
        desiredCapacity: pool.count,
        // Room above the count for capacity rebalancing (the replacement launches first).
        maxSize: pool.spot ? pool.count * 2 : pool.count,
        vpcZoneIdentifiers: subnetIds,
        healthCheckType: 'EC2',
        ...(pool.spot
          ? {
              capacityRebalance: true,
              mixedInstancesPolicy: {
                instancesDistribution: {
                  onDemandBaseCapacity: pool.onDemandBase,
                  onDemandPercentageAboveBaseCapacity: 0,
                  spotAllocationStrategy: 'price-capacity-optimized',
                },
                launchTemplate: {
                  launchTemplateSpecification: { launchTemplateId: lt.id, version: '$Latest' },
                  overrides: types.map((instanceType) => ({ instanceType })),
                },
              },
            }
          : { launchTemplate: { id: lt.id, version: '$Latest' } }),
        tags: Object.entries(roleTags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
      },
      o,
    );
  }
  if (region.pools.some((pool) => pool.spot)) buildSpotInterruptionAlarm(ctx, n, o, r, tags);
  return { provider, controlPlaneEndpoint: lb.dnsName };
}

/**
 * Spot interruption monitoring (reference: "CloudWatch alarms for high interruption
 * rates"): an EventBridge rule on "EC2 Spot Instance Interruption Warning" delivers each
 * notice to an SNS topic and an alarm on the rule's `TriggeredRules` fires when more than
 * `spotInterruptionsPerHour` arrive in an hour. EventBridge events carry no tags, so the
 * rule sees every spot interruption of the account in the region. The topic is encrypted
 * with its own KMS key (EventBridge cannot use the AWS-managed SNS key).
 */
function buildSpotInterruptionAlarm(
  ctx: RegionBuildContext,
  n: string,
  o: { parent: pulumi.Resource; provider: aws.Provider },
  r: { region: string },
  tags: Record<string, string>,
): void {
  const { region } = ctx;
  const account = aws.getCallerIdentityOutput({}, o).accountId;
  const key = new aws.kms.Key(
    `${n}-alerts`,
    {
      ...r,
      description: `Alerts topic of ${region.clusterName}`,
      enableKeyRotation: true,
      deletionWindowInDays: 7,
      policy: policyJson([
        {
          Sid: 'AccountAdministers',
          Effect: 'Allow',
          Principal: { AWS: pulumi.interpolate`arn:aws:iam::${account}:root` },
          Action: 'kms:*',
          Resource: '*',
        },
        {
          Sid: 'EventBridgePublishes',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: '*',
        },
      ]),
      tags,
    },
    o,
  );
  const topic = new aws.sns.Topic(`${n}-alerts`, { ...r, name: `${region.clusterName}-alerts`, kmsMasterKeyId: key.id, tags }, o);
  (ctx.alertEmails ?? []).forEach(
    (email, i) => new aws.sns.TopicSubscription(`${n}-alerts-${i}`, { ...r, topic: topic.arn, protocol: 'email', endpoint: email }, o),
  );
  const rule = new aws.cloudwatch.EventRule(
    `${n}-spot-interruptions`,
    {
      ...r,
      name: `${region.clusterName}-spot-interruptions`,
      description: 'EC2 spot interruption warnings in this region',
      eventPattern: JSON.stringify({ source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning'] }),
      tags,
    },
    o,
  );
  new aws.sns.TopicPolicy(
    `${n}-alerts`,
    {
      ...r,
      arn: topic.arn,
      policy: policyJson([
        {
          Sid: 'EventBridgePublishes',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: topic.arn,
          Condition: { ArnEquals: { 'aws:SourceArn': rule.arn } },
        },
      ]),
    },
    o,
  );
  new aws.cloudwatch.EventTarget(`${n}-spot-interruptions`, { ...r, rule: rule.name, arn: topic.arn }, o);
  new aws.cloudwatch.MetricAlarm(
    `${n}-spot-interruption-rate`,
    {
      ...r,
      name: `${region.clusterName}-spot-interruption-rate`,
      alarmDescription: `more than ${ctx.spotInterruptionsPerHour} spot interruptions in an hour in ${region.providerRegion}`,
      namespace: 'AWS/Events',
      metricName: 'TriggeredRules',
      dimensions: { RuleName: rule.name },
      statistic: 'Sum',
      period: 3600,
      evaluationPeriods: 1,
      threshold: ctx.spotInterruptionsPerHour,
      comparisonOperator: 'GreaterThanThreshold',
      treatMissingData: 'notBreaching',
      alarmActions: [topic.arn],
      tags,
    },
    o,
  );
}
