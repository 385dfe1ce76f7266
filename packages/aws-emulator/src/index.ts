export {
  startMotoServer,
  findMotoServer,
  MOTO_ACCOUNT_ID,
  MOTO_ADMIN_CREDENTIALS,
  MOTO_INSTALL_HINT,
  type MotoServer,
  type MotoServerOptions,
} from './moto-server.ts';
export { startEmulatedAws, type EmulatedAws, type EmulatedAwsOptions } from './emulated-aws.ts';
export { claimLoopbackOctet, releaseLoopbackOctet, LOOPBACK_OCTETS } from './loopback-block.ts';
export { ensureEmulatedNetwork, EMULATED_VPC_CIDR, type EmulatedNetwork, type EmulatedNetworkOptions } from './emulated-network.ts';
export { InstanceEmulator, type InstanceEmulatorOptions, type PreemptOptions, type MachineEnd } from './instance-emulator.ts';
export { EmulatedMachine, EMULATED_INSTANCE_STATIC_KEYS, writeMachineShims, type EmulatedMachineOptions } from './emulated-machine.ts';
export {
  emulatedMetadataSource,
  type EmulatedInstance,
  type InstanceCredentials,
  type CredentialsFor,
  type InstanceEvents,
  type EmulatedMetadataOptions,
} from './instance-metadata.ts';
// PostgreSQL standing in for RDS (and the tests' private server).
export {
  startPostgresServer,
  findPostgresBinDir,
  POSTGRES_INSTALL_HINT,
  type PostgresServer,
  type PostgresServerOptions,
} from './postgres-server.ts';
export { makeNodeTarball, type NodeTarball, type NodeTarballOptions } from './node-tarball.ts';
// ECS: services and their tasks as local processes with their task role's credentials.
export {
  EcsTaskEmulator,
  type EcsTaskEmulatorOptions,
  type EcsTaskEvent,
  type EmulatedTask,
  type TaskCredentials,
} from './ecs-task-emulator.ts';
export { machinePids, killMachineProcesses, MACHINE_MARKER_ENV } from './machine-processes.ts';
// IAM truth: the stack's roles in moto, role sessions, and the IAM-checking proxy in front of moto.
export { startIamTruth, prepareIamTruth, type IamTruth, type IamTruthOptions, type PendingIamTruth } from './iam-truth.ts';
export { startIamProxy, type IamProxy, type IamProxyOptions, type IamReport, type IamDenial } from './iam-proxy.ts';
export {
  installRoles,
  RoleSessions,
  imdsCredentials,
  MOTO_IAM_ENV,
  type IamRoleDocument,
  type IamPolicyDocument,
  type IamPolicyStatement,
  type InstalledRole,
  type RoleCredentials,
  type SessionPrincipal,
  type ImdsCredentials,
  type InstanceRef,
} from './iam-roles.ts';
export { loadIamSimulator, IAM_SIMULATOR_PACKAGE, type IamEvaluator, type IamDecision } from './iam-evaluate.ts';
