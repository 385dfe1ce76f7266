/**
 * A role's identity policies as the emulated account holds them right now: its inline
 * policies and the documents of its attached managed policies (AWS managed ones included,
 * from moto's copy). Read from moto, so a policy changed there (PutRolePolicy,
 * DetachRolePolicy) is what the next check sees once the cache is invalidated.
 */
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import type { IamPolicyDocument, IamPolicyStatement } from './iam-roles.ts';
import type { MotoServer } from './moto-server.ts';

export interface NamedPolicy {
  /** `inline:<name>` or the managed policy ARN. */
  name: string;
  policy: IamPolicyDocument;
}

function decodeDocument(text: string | undefined): IamPolicyDocument {
  if (!text) return { Statement: [] };
  // IAM returns documents URL-encoded.
  const decoded = text.trimStart().startsWith('{') ? text : decodeURIComponent(text);
  const parsed = JSON.parse(decoded) as IamPolicyDocument;
  // A document may hold one statement instead of a list.
  return { ...parsed, Statement: [parsed.Statement as IamPolicyStatement | IamPolicyStatement[]].flat() };
}

/** Caches each role's policies until `invalidate()`. */
export class RolePolicyStore {
  private readonly iam: IAMClient;
  private readonly cache = new Map<string, Promise<NamedPolicy[]>>();

  constructor(moto: MotoServer) {
    this.iam = new IAMClient(moto.clientConfig());
  }

  policiesOf(roleName: string): Promise<NamedPolicy[]> {
    let found = this.cache.get(roleName);
    if (!found) {
      found = this.load(roleName);
      // A failed load is not cached.
      found.catch(() => this.cache.delete(roleName));
      this.cache.set(roleName, found);
    }
    return found;
  }

  /** Forget every cached policy (after an IAM write). */
  invalidate(): void {
    this.cache.clear();
  }

  private async load(roleName: string): Promise<NamedPolicy[]> {
    const out: NamedPolicy[] = [];
    let marker: string | undefined;
    do {
      const page = await this.iam.send(new ListRolePoliciesCommand({ RoleName: roleName, Marker: marker }));
      for (const name of page.PolicyNames ?? []) {
        const got = await this.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
        out.push({ name: `inline:${name}`, policy: decodeDocument(got.PolicyDocument) });
      }
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    do {
      const page = await this.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName, Marker: marker }));
      for (const attached of page.AttachedPolicies ?? []) {
        const arn = attached.PolicyArn!;
        const policy = await this.iam.send(new GetPolicyCommand({ PolicyArn: arn }));
        const version = await this.iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: policy.Policy?.DefaultVersionId }));
        out.push({ name: arn, policy: decodeDocument(version.PolicyVersion?.Document) });
      }
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    return out;
  }

  close(): void {
    this.iam.destroy();
  }
}
