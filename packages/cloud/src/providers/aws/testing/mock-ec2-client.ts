/**
 * An EC2Client whose `send` is replaced by aws-sdk-client-mock: no network, no
 * credentials chain. For tests only (aws-sdk-client-mock is a devDependency).
 */
import { EC2Client, type EC2ClientResolvedConfig, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-ec2';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';

export type Ec2Mock = AwsStub<ServiceInputTypes, ServiceOutputTypes, EC2ClientResolvedConfig>;

export function mockedEc2Client(): { client: EC2Client; mock: Ec2Mock } {
  // Tests run on Node 20 on purpose; the SDK's notice about Node 22 is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' }, maxAttempts: 1 });
  return { client, mock: mockClient(client) };
}
