/**
 * Provider interfaces: one narrow interface per capability (docs/architecture.md "Providers").
 * Every provider (local, aws) implements these and passes the conformance suites in
 * `conformance/`.
 */

export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated';
export type Lifecycle = 'spot' | 'on-demand';

/** What a provider knows about one instance, as its API would describe it. */
export interface InstanceRecord {
  id: string;
  state: InstanceState;
  /** Why the instance is in its state, as EC2 reports it, e.g. `Server.SpotInstanceTermination`. */
  stateReason?: string | undefined;
  /** Address peers use to reach this instance (a private IP on EC2, 127.0.0.1 locally). */
  privateIp: string;
  instanceType: string;
  zone: string;
  lifecycle: Lifecycle;
  /** Epoch milliseconds of the launch. */
  launchedAt: number;
  tags: Record<string, string>;
}

export interface LaunchSpec {
  /** Tags applied atomically at launch (TagSpecifications); must include SynktiCluster and SynktiRole. */
  tags: Record<string, string>;
  instanceType: string;
  lifecycle: Lifecycle;
  zone?: string | undefined;
  /**
   * Zones best first, when `zone` is not set: the provider tries its zones in this order
   * (zones not listed after), so the agent's zone-spread rule (`placementZoneOrder`) decides
   * where a replacement lands. At most 64 zones.
   */
  zoneOrder?: readonly string[] | undefined;
  /** Opaque boot data the instance reads from its metadata service (`/latest/user-data`). */
  userData?: string | undefined;
  /**
   * Idempotency token: launching twice with the same token returns the first instance
   * instead of launching another (EC2 ClientToken semantics).
   */
  clientToken?: string | undefined;
}

export interface InstanceFilter {
  /** Every listed tag must match exactly. */
  tags?: Record<string, string> | undefined;
  /** Only instances in one of these states; default: every state but `terminated`. */
  states?: InstanceState[] | undefined;
  ids?: string[] | undefined;
}

export interface Page<T> {
  items: T[];
  /** Present when more results exist: pass it back as `nextToken`. */
  nextToken?: string | undefined;
}

export interface PageRequest {
  maxResults?: number | undefined;
  nextToken?: string | undefined;
}

export interface InstanceProvider {
  launch(spec: LaunchSpec): Promise<InstanceRecord>;
  /** One page of matching instances, ordered stably (launch time, then id). */
  list(filter: InstanceFilter, page?: PageRequest): Promise<Page<InstanceRecord>>;
  /** Begin termination; instances reach `terminated`. Unknown ids raise E_INSTANCE_NOT_FOUND. */
  terminate(ids: string[]): Promise<void>;
  /** Add or overwrite tags. */
  tag(ids: string[], tags: Record<string, string>): Promise<void>;
  /** Remove tag keys (missing keys are ignored). */
  untag(ids: string[], keys: string[]): Promise<void>;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** Hex SHA-256 of the body. */
  sha256: string;
  /** Epoch milliseconds. */
  modifiedAt: number;
}

export interface BucketOptions {
  /** A protected bucket refuses deletion (E_BUCKET_PROTECTED), e.g. the models bucket. */
  protected?: boolean | undefined;
}

/** One bucket of the store, as `listBuckets` reports it. */
export interface BucketInfo {
  name: string;
  /** Whether deleteBucket refuses it unless `confirmProtected` names it. */
  protected: boolean;
  /** Epoch milliseconds of the bucket's creation; 0 when the store does not know. */
  createdAt: number;
}

export interface DeleteBucketOptions {
  /**
   * Delete the bucket's objects with it; otherwise a non-empty bucket is refused (E_BUCKET_NOT_EMPTY).
   * @default false
   */
  force?: boolean | undefined;
  /**
   * Deletes a protected bucket too, but only when it equals the bucket's name exactly: the
   * caller names the bucket twice (an operator typing it again), so protection cannot be
   * lifted by a flag passed to every bucket. Any other value is refused (E_BUCKET_PROTECTED).
   * Ignored for an unprotected bucket.
   * @default undefined: a protected bucket is refused
   */
  confirmProtected?: string | undefined;
}

export interface ObjectStore {
  createBucket(bucket: string, options?: BucketOptions): Promise<void>;
  /**
   * Refuses with E_BUCKET_PROTECTED for a protected bucket unless `confirmProtected` equals
   * its name, and with E_BUCKET_NOT_EMPTY unless `force`.
   */
  deleteBucket(bucket: string, options?: DeleteBucketOptions): Promise<void>;
  /** The store's (Synkti's) buckets, sorted by name; each provider says what counts as one of its buckets. */
  listBuckets(): Promise<BucketInfo[]>;
  /** Whether the bucket is protected; E_BUCKET_NOT_FOUND when it does not exist. */
  isProtected(bucket: string): Promise<boolean>;
  /** Atomic: a reader sees the old body or the new one, never a part (invariant 7). */
  put(bucket: string, key: string, body: Uint8Array | string): Promise<ObjectInfo>;
  /** The body, or `undefined` when the key does not exist. Integrity is verified. */
  get(bucket: string, key: string): Promise<Uint8Array | undefined>;
  head(bucket: string, key: string): Promise<ObjectInfo | undefined>;
  /** Keys in lexicographic order. */
  list(bucket: string, prefix?: string, page?: PageRequest): Promise<Page<ObjectInfo>>;
  /** Deleting a missing key is not an error. */
  delete(bucket: string, key: string): Promise<void>;
}

export interface InstanceIdentity {
  instanceId: string;
  instanceType: string;
  region: string;
  zone: string;
  privateIp: string;
}

export interface InterruptionNotice {
  action: 'terminate' | 'stop' | 'hibernate';
  /** Epoch milliseconds when the instance will be interrupted. */
  time: number;
}

export interface RebalanceRecommendation {
  /** Epoch milliseconds when the recommendation was raised. */
  noticeTime: number;
}

/** What an instance can learn about itself without any cloud API call (IMDSv2 on EC2). */
export interface InstanceMetadata {
  identity(): Promise<InstanceIdentity>;
  /** The instance's own tags (instance-metadata tags must be enabled on EC2). */
  tags(): Promise<Record<string, string>>;
  userData(): Promise<string | undefined>;
  /** `null` when there is no notice (404). */
  interruptionNotice(): Promise<InterruptionNotice | null>;
  /** `null` when there is no recommendation (404). */
  rebalanceRecommendation(): Promise<RebalanceRecommendation | null>;
  /**
   * The instance's cloud-signed identity (metadata/identity-document.ts) and whom to trust
   * for its peers'. Optional: a metadata without it (test fakes) runs without identities.
   */
  identityProof?(): Promise<{
    proof: import('./metadata/identity-document.ts').IdentityProof;
    trust: import('./metadata/identity-document.ts').IdentityTrust;
  }>;
}

/** Walks every page of `list`. */
export async function listAllInstances(provider: InstanceProvider, filter: InstanceFilter): Promise<InstanceRecord[]> {
  const all: InstanceRecord[] = [];
  let nextToken: string | undefined;
  do {
    const page = await provider.list(filter, { nextToken });
    all.push(...page.items);
    nextToken = page.nextToken;
  } while (nextToken);
  return all;
}
