/**
 * A small in-memory SSM Parameter Store behind a real SSMClient whose `send` is replaced
 * by aws-sdk-client-mock: GetParameter throws ParameterNotFound until PutParameter has
 * stored the name; PutParameter without Overwrite on an existing name throws
 * ParameterAlreadyExists; a SecureString comes back without decryption as a stand-in
 * ciphertext. Access can be denied per action. For tests only (aws-sdk-client-mock is a
 * devDependency).
 */
import {
  AccessDeniedException,
  GetParameterCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
  type GetParameterCommandInput,
  type PutParameterCommandInput,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type SSMClientResolvedConfig,
} from '@aws-sdk/client-ssm';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';

export type SsmMock = AwsStub<ServiceInputTypes, ServiceOutputTypes, SSMClientResolvedConfig>;

export interface FakeParameter {
  type: string;
  value: string;
  keyId: string | undefined;
  tags: Record<string, string>;
  version: number;
}

export class FakeSsm {
  readonly client: SSMClient;
  readonly mock: SsmMock;
  readonly parameters = new Map<string, FakeParameter>();
  /** Actions answered with AccessDeniedException, e.g. 'ssm:PutParameter'. */
  readonly denied = new Set<string>();
  /** Called before a PutParameter is applied (tests create a racing parameter here). */
  beforePut: ((input: PutParameterCommandInput) => void) | undefined;

  constructor() {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new SSMClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' }, maxAttempts: 1 });
    this.mock = mockClient(this.client);
    this.mock.on(GetParameterCommand).callsFake((input: GetParameterCommandInput) => this.get(input));
    this.mock.on(PutParameterCommand).callsFake((input: PutParameterCommandInput) => this.put(input));
  }

  /** Calls that would change something (everything but GetParameter). */
  writeCalls(): string[] {
    return this.mock
      .calls()
      .map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name)
      .filter((name) => name !== 'GetParameterCommand');
  }

  private deny(action: string): void {
    if (this.denied.has(action)) {
      const message = `User: arn:aws:iam::123456789012:user/test is not authorized to perform: ${action} on resource: parameter because no identity-based policy allows the ${action} action`;
      throw new AccessDeniedException({ $metadata: { httpStatusCode: 400 }, message, Message: message });
    }
  }

  private get(input: GetParameterCommandInput) {
    this.deny('ssm:GetParameter');
    const name = input.Name ?? '';
    const p = this.parameters.get(name);
    if (p === undefined) throw new ParameterNotFound({ $metadata: { httpStatusCode: 400 }, message: '' });
    const value = p.type === 'SecureString' && !input.WithDecryption ? `AQICAH-ciphertext-of-v${p.version}` : p.value;
    return { Parameter: { Name: name, Type: p.type as 'SecureString', Value: value, Version: p.version } };
  }

  private put(input: PutParameterCommandInput) {
    this.deny('ssm:PutParameter');
    if (input.Tags?.length) this.deny('ssm:AddTagsToResource');
    this.beforePut?.(input);
    const name = input.Name ?? '';
    const existing = this.parameters.get(name);
    if (existing !== undefined && !input.Overwrite) {
      throw new ParameterAlreadyExists({
        $metadata: { httpStatusCode: 400 },
        message: 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      });
    }
    const version = (existing?.version ?? 0) + 1;
    this.parameters.set(name, {
      type: input.Type ?? 'String',
      value: input.Value ?? '',
      keyId: input.KeyId,
      tags: Object.fromEntries((input.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
      version,
    });
    return { Version: version, Tier: 'Standard' as const };
  }
}
