/**
 * IAM policy documents as plain data. Kept as objects (not strings) until the last moment
 * so components, tests and `synkti infra audit` all read the same statements.
 */
import * as pulumi from '@pulumi/pulumi';

export type ConditionBlock = Record<string, Record<string, string | string[] | boolean>>;

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: string | string[];
  Principal?: Record<string, string | string[]>;
  Condition?: ConditionBlock;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** A statement whose ARNs and values may be outputs of resources made in the same stack. */
export interface PolicyStatementInput {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: pulumi.Input<string> | Array<pulumi.Input<string>>;
  Principal?: Record<string, pulumi.Input<string> | Array<pulumi.Input<string>>>;
  Condition?: Record<string, Record<string, pulumi.Input<string> | Array<pulumi.Input<string>> | boolean>>;
}

/** JSON of a policy whose statements may hold outputs (ARNs of resources made in the same stack). */
export function policyJson(statements: PolicyStatementInput[]): pulumi.Output<string> {
  return pulumi
    .output(statements)
    .apply((resolved) => JSON.stringify({ Version: '2012-10-17', Statement: resolved as PolicyStatement[] } satisfies PolicyDocument));
}

/** Trust policy letting an AWS service assume a role. */
export function serviceTrustPolicy(service: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  } satisfies PolicyDocument);
}

/** The managed policy that lets SSM Session Manager reach an instance (instead of SSH). */
export const SSM_MANAGED_POLICY_ARN = 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore';
/** ECR pull and log writing for ECS task executions. */
export const ECS_TASK_EXECUTION_POLICY_ARN = 'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy';
