/**
 * The emulated EC2's network: a VPC on 127.X.0.0/16 with one subnet per zone, so every
 * emulated instance gets its own loopback private IP (127.X.1.4, 127.X.2.5, ...) and
 * can bind its agent, router and workload on the production ports without colliding with
 * another instance. Linux routes all of 127.0.0.0/8 to the loopback interface, so those
 * addresses answer on this host and nowhere else. X is claimed per process
 * (loopback-block.ts): two emulated AWSes at once (test files in parallel, a demo beside
 * the tests) never hand out the same address.
 */
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { SynktiError } from '@synkti/core';
import { claimLoopbackOctet } from './loopback-block.ts';

/** The tag that marks what this module created, so a second call finds it again. */
export const EMULATED_NETWORK_TAG = 'synkti-emulated-network';
/** The first block tried; each emulated AWS claims its own 127.X.0.0/16 (see loopbackBlock). */
export const EMULATED_VPC_CIDR = '127.100.0.0/16';

export interface EmulatedNetworkOptions {
  /**
   * Second octet X of the VPC 127.X.0.0/16.
   * @default a block claimed for this process (claimLoopbackOctet), or the existing VPC's on a second call
   */
  loopbackOctet?: number | undefined;
  /**
   * Zones, each given the subnet 127.X.<n>.0/24 (n from 1, in this order).
   * @default [`${region}a`, `${region}b`, `${region}c`]
   */
  zones?: string[] | undefined;
  /**
   * Name (wildcards allowed) of the moto-known image instances boot from; only the id
   * matters to the emulator, which runs every instance on this host.
   * @default 'amzn2-ami-hvm-*-x86_64-gp2'
   */
  imageName?: string | undefined;
}

export interface EmulatedNetwork {
  vpcId: string;
  /** The VPC's block, e.g. 127.142.0.0/16. */
  cidr: string;
  /** One subnet per zone, in zone order. */
  subnets: { subnetId: string; zone: string; cidr: string }[];
  /** Allows nothing in from anywhere (no world ingress); instances reach each other over loopback anyway. */
  securityGroupId: string;
  /** An x86_64 Linux AMI id moto knows in this region. */
  imageId: string;
}

function fail(what: string, hint: string): never {
  throw new SynktiError('E_EMULATED_NETWORK', what, { hint });
}

/** Creates (or finds, when called again) the VPC, subnets, security group and AMI. Idempotent. */
export async function ensureEmulatedNetwork(
  ec2: EC2Client,
  region: string,
  options: EmulatedNetworkOptions = {},
): Promise<EmulatedNetwork> {
  const zones = options.zones ?? [`${region}a`, `${region}b`, `${region}c`];
  if (zones.length === 0 || zones.length > 254)
    fail(`zones: expected 1 to 254 zones, got ${zones.length}`, `e.g. ['${region}a', '${region}b']`);
  const marker = [{ Name: `tag:${EMULATED_NETWORK_TAG}`, Values: ['true'] }];
  const tag = (resources: string[]) =>
    ec2.send(new CreateTagsCommand({ Resources: resources, Tags: [{ Key: EMULATED_NETWORK_TAG, Value: 'true' }] }));

  const found = (await ec2.send(new DescribeVpcsCommand({ Filters: marker }))).Vpcs?.find((v) =>
    /^127\.\d+\.0\.0\/16$/.test(v.CidrBlock ?? ''),
  );
  let vpcId = found?.VpcId;
  let octet = found ? Number(found.CidrBlock!.split('.')[1]) : options.loopbackOctet;
  if (octet !== undefined && !(Number.isInteger(octet) && octet >= 1 && octet <= 254)) {
    fail(`loopbackOctet: expected a whole number from 1 to 254, got ${octet}`, 'leave it out to claim a free block');
  }
  if (!vpcId) {
    octet ??= claimLoopbackOctet();
    vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: `127.${octet}.0.0/16` }))).Vpc?.VpcId;
    if (!vpcId) fail('CreateVpc returned no VPC id', 'is the endpoint a moto server?');
    await tag([vpcId]);
  }
  const block = octet!;

  const existing = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))).Subnets ?? [];
  const subnets: EmulatedNetwork['subnets'] = [];
  for (const [index, zone] of zones.entries()) {
    const cidr = `127.${block}.${index + 1}.0/24`;
    let subnetId = existing.find((s) => s.CidrBlock === cidr)?.SubnetId;
    if (!subnetId) {
      subnetId = (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: zone }))).Subnet?.SubnetId;
      if (!subnetId) fail(`CreateSubnet returned no subnet id for ${cidr}`, 'is the endpoint a moto server?');
      await tag([subnetId]);
    }
    subnets.push({ subnetId, zone, cidr });
  }

  const groupName = 'synkti-emulated-workers';
  let securityGroupId = (
    await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-name', Values: [groupName] },
        ],
      }),
    )
  ).SecurityGroups?.[0]?.GroupId;
  if (!securityGroupId) {
    // A new group has no ingress rule at all: nothing from the world, as the stack's.
    securityGroupId = (
      await ec2.send(
        new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: groupName, Description: 'Synkti emulated workers (no ingress)' }),
      )
    ).GroupId;
    if (!securityGroupId) fail('CreateSecurityGroup returned no group id', 'is the endpoint a moto server?');
    await tag([securityGroupId]);
  }

  const imageName = options.imageName ?? 'amzn2-ami-hvm-*-x86_64-gp2';
  const images =
    (
      await ec2.send(
        new DescribeImagesCommand({
          Filters: [
            { Name: 'name', Values: [imageName] },
            { Name: 'architecture', Values: ['x86_64'] },
          ],
        }),
      )
    ).Images ?? [];
  const imageId = images
    .map((i) => i.ImageId)
    .filter((id): id is string => !!id)
    .sort()[0];
  if (!imageId) fail(`no image named ${imageName} in ${region}`, "pass imageName matching one of moto's images (aws ec2 describe-images)");

  return { vpcId, cidr: `127.${block}.0.0/16`, subnets, securityGroupId, imageId };
}
