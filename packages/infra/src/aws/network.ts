/**
 * `SynktiNetwork`: the one VPC layout every Synkti AWS component uses (batch fleet,
 * pipeline cluster, serve fleet). Three sources:
 * - `create`: a VPC with one public /20 per zone (internet gateway; instances get no public
 *   IP unless asked) and, with a NAT, one private /20 per zone behind it (one NAT, or one
 *   per zone so a zone outage does not cut the others off);
 * - `existing`: the caller's VPC and subnets, used as given;
 * - `default`: the account's default VPC (or the given VPC) and its default-for-zone subnets.
 *
 * Its resources are children of the calling component (not of a component of their own),
 * so their URNs are the ones the components had when each built its VPC inline.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { withTransform, type Transform } from './transform.ts';

/** Hooks for the network's child resources (see transform.ts). */
export interface SynktiNetworkTransform {
  vpc?: Transform<aws.ec2.VpcArgs> | undefined;
  subnet?: Transform<aws.ec2.SubnetArgs> | undefined;
  internetGateway?: Transform<aws.ec2.InternetGatewayArgs> | undefined;
  natGateway?: Transform<aws.ec2.NatGatewayArgs> | undefined;
  routeTable?: Transform<aws.ec2.RouteTableArgs> | undefined;
}

/** NAT gateways of a created VPC: none (workloads in public subnets), one, or one per zone. */
export type NatLayout = 'none' | 'single' | 'perZone';

export type SynktiNetworkSource =
  | { kind: 'create'; cidr: string; azCount: number; nat: NatLayout }
  | { kind: 'existing'; vpcId: pulumi.Input<string>; subnetIds: pulumi.Input<string>[] }
  | { kind: 'default'; vpcId?: pulumi.Input<string> | undefined; subnetIds?: pulumi.Input<string>[] | undefined };

export interface SynktiNetworkArgs {
  source: SynktiNetworkSource;
  /** Prefix of the `Name` tags (the cluster name). */
  label: string;
  /** Tags on every resource. @default {} */
  tags?: Record<string, string> | undefined;
  /**
   * With a single NAT: one private route table for every zone, named `<name>-private`, and
   * the NAT `<name>-nat` (SpotBatchFleet's layout since its first release; renaming them
   * would replace them). Otherwise one route table per zone, `<name>-private-<i>`, and NATs
   * `<name>-nat-<i>`.
   * @default false
   */
  sharedPrivateRouteTable?: boolean | undefined;
  transform?: SynktiNetworkTransform | undefined;
}

export class SynktiNetwork {
  readonly vpcId: pulumi.Output<string>;
  /** Public subnets made here (empty for `existing` and `default`). */
  readonly publicSubnetIds: pulumi.Output<string>[];
  /** Private subnets made here (empty without a NAT). */
  readonly privateSubnetIds: pulumi.Output<string>[];
  /** Where workloads go: private subnets behind the NAT, else the public ones, else the given or default ones. */
  readonly workloadSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** True when workloads sit in public subnets with no NAT (they need a public IP to call out). */
  readonly workloadsArePublic: boolean;
  private readonly cidr: pulumi.Input<string> | undefined;
  private readonly lookupOpts: pulumi.InvokeOptions;

  constructor(name: string, args: SynktiNetworkArgs, opts: pulumi.CustomResourceOptions) {
    this.lookupOpts = { ...(opts.parent ? { parent: opts.parent } : {}), ...(opts.provider ? { provider: opts.provider } : {}) };
    const source = args.source;
    if (source.kind === 'existing') {
      this.vpcId = pulumi.output(source.vpcId);
      this.publicSubnetIds = [];
      this.privateSubnetIds = [];
      this.workloadSubnetIds = source.subnetIds;
      this.workloadsArePublic = false;
      return;
    }
    if (source.kind === 'default') {
      const vpcId = source.vpcId !== undefined ? pulumi.output(source.vpcId) : aws.ec2.getVpcOutput({ default: true }, this.lookupOpts).id;
      this.vpcId = vpcId;
      this.publicSubnetIds = [];
      this.privateSubnetIds = [];
      this.workloadSubnetIds =
        source.subnetIds ??
        aws.ec2.getSubnetsOutput(
          {
            filters: [
              { name: 'vpc-id', values: [vpcId] },
              { name: 'default-for-az', values: ['true'] },
            ],
          },
          this.lookupOpts,
        ).ids;
      this.workloadsArePublic = false;
      return;
    }
    this.cidr = source.cidr;
    const built = createVpc(name, source, args, opts);
    this.vpcId = built.vpcId;
    this.publicSubnetIds = built.publicSubnetIds;
    this.privateSubnetIds = built.privateSubnetIds;
    this.workloadsArePublic = source.nat === 'none';
    this.workloadSubnetIds = this.workloadsArePublic ? this.publicSubnetIds : this.privateSubnetIds;
  }

  /** The VPC's CIDR block: the one it was made with, else looked up (an invoke, made only when asked). */
  cidrBlock(): pulumi.Input<string> {
    return this.cidr ?? aws.ec2.getVpcOutput({ id: this.vpcId }, this.lookupOpts).cidrBlock;
  }
}

interface BuiltVpc {
  vpcId: pulumi.Output<string>;
  publicSubnetIds: pulumi.Output<string>[];
  privateSubnetIds: pulumi.Output<string>[];
}

/** The /20 at index `i` of a /16-or-larger CIDR: public subnets take 0.., private ones 8... */
function subnetCidr(cidr: string, index: number): string {
  const [o1, o2] = cidr.split('.');
  return `${o1}.${o2}.${index * 16}.0/20`;
}

function createVpc(
  name: string,
  source: Extract<SynktiNetworkSource, { kind: 'create' }>,
  args: SynktiNetworkArgs,
  o: pulumi.CustomResourceOptions,
): BuiltVpc {
  const t = args.transform ?? {};
  const tags = args.tags ?? {};
  const label = args.label;
  const vpc = withTransform(
    aws.ec2.Vpc,
    `${name}-vpc`,
    { cidrBlock: source.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { ...tags, Name: label } },
    o,
    t.vpc,
  );
  const zones = aws.getAvailabilityZonesOutput(
    { state: 'available' },
    { ...(o.parent ? { parent: o.parent } : {}), ...(o.provider ? { provider: o.provider } : {}) },
  ).names;
  const zone = (i: number): pulumi.Output<string> => zones.apply((z) => z[i % z.length] as string);
  const igw = withTransform(aws.ec2.InternetGateway, `${name}-igw`, { vpcId: vpc.id, tags }, o, t.internetGateway);
  const publicRt = withTransform(
    aws.ec2.RouteTable,
    `${name}-public`,
    { vpcId: vpc.id, routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: igw.id }], tags: { ...tags, Name: `${label}-public` } },
    o,
    t.routeTable,
  );
  const publicSubnets: aws.ec2.Subnet[] = [];
  for (let i = 0; i < source.azCount; i++) {
    const subnet = withTransform(
      aws.ec2.Subnet,
      `${name}-public-${i}`,
      {
        vpcId: vpc.id,
        cidrBlock: subnetCidr(source.cidr, i),
        availabilityZone: zone(i),
        mapPublicIpOnLaunch: false,
        tags: { ...tags, Name: `${label}-public-${i}` },
      },
      o,
      t.subnet,
    );
    new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: subnet.id, routeTableId: publicRt.id }, o);
    publicSubnets.push(subnet);
  }
  const privateSubnets: aws.ec2.Subnet[] = [];
  if (source.nat !== 'none') {
    const shared = args.sharedPrivateRouteTable === true && source.nat === 'single';
    const nats: aws.ec2.NatGateway[] = [];
    const routeTables: aws.ec2.RouteTable[] = [];
    for (let i = 0; i < source.azCount; i++) {
      if (i === 0 || source.nat === 'perZone') {
        const natName = shared ? `${name}-nat` : `${name}-nat-${i}`;
        const eip = new aws.ec2.Eip(natName, { domain: 'vpc', tags }, o);
        const pub = publicSubnets[i] as aws.ec2.Subnet;
        nats.push(
          withTransform(
            aws.ec2.NatGateway,
            natName,
            { allocationId: eip.id, subnetId: pub.id, tags },
            { ...o, dependsOn: [igw] },
            t.natGateway,
          ),
        );
      }
      if (i === 0 || !shared) {
        const nat = nats[source.nat === 'perZone' ? i : 0] as aws.ec2.NatGateway;
        routeTables.push(
          withTransform(
            aws.ec2.RouteTable,
            shared ? `${name}-private` : `${name}-private-${i}`,
            {
              vpcId: vpc.id,
              routes: [{ cidrBlock: '0.0.0.0/0', natGatewayId: nat.id }],
              tags: { ...tags, Name: shared ? `${label}-private` : `${label}-private-${i}` },
            },
            o,
            t.routeTable,
          ),
        );
      }
      const rt = routeTables[shared ? 0 : i] as aws.ec2.RouteTable;
      const subnet = withTransform(
        aws.ec2.Subnet,
        `${name}-private-${i}`,
        {
          vpcId: vpc.id,
          cidrBlock: subnetCidr(source.cidr, 8 + i),
          availabilityZone: zone(i),
          tags: { ...tags, Name: `${label}-private-${i}` },
        },
        o,
        t.subnet,
      );
      new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: subnet.id, routeTableId: rt.id }, o);
      privateSubnets.push(subnet);
    }
  }
  return { vpcId: vpc.id, publicSubnetIds: publicSubnets.map((s) => s.id), privateSubnetIds: privateSubnets.map((s) => s.id) };
}
