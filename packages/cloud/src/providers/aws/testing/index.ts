/**
 * `@synkti/cloud/aws-testing`: the fake EC2 (a stateful model of the calls the AWS provider
 * makes, with pagination, eventual consistency and capacity errors) a fake clock and an
 * S3 server on loopback (s3rver), for other packages' tests. Test code only: it needs aws-sdk-client-mock (a dev dependency).
 */
export { FakeEc2, ec2Error, filterMatches, type FakeEc2Options, type FakeInstance } from './fake-ec2.ts';
export { fakeTime, type FakeTime } from './fake-time.ts';
export { startTestS3, type TestS3 } from './s3rver.ts';
export { openTestS3Bucket, type TestS3Bucket } from './test-bucket.ts';
