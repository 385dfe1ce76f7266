import { InvalidArgumentError, type Command } from 'commander';
// The program's -c/--config is the cluster config (synkti.config.ts); infra configs use --infra-config.
import type { InfraComponent } from '@synkti/infra';
import { runInfraAudit, runInfraCost, runInfraDeploy, DEFAULT_INFRA_CONFIG_FILE } from '../infra/infra-actions.ts';

const STACK_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function stackOption(value: string): string {
  if (!STACK_RE.test(value))
    throw new InvalidArgumentError('expected a stack name: letters, digits, ".", "_" and "-" (e.g. dev, staging, production, ml-prod)');
  return value;
}

// Kept here (not imported from @synkti/infra) so parsing options does not load Pulumi.
const COMPONENTS: readonly InfraComponent[] = ['serve', 'batch', 'kubernetes', 'pipelines'];

function componentOption(value: string): InfraComponent {
  const component = COMPONENTS.find((c) => c === value);
  if (!component) throw new InvalidArgumentError(`expected one of ${COMPONENTS.join(', ')}`);
  return component;
}

function hoursOption(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 24) throw new InvalidArgumentError('expected hours from 0 to 24, e.g. 10');
  return n;
}

function amountOption(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of 0 or more, e.g. 1000000');
  return n;
}

function ruleList(value: string, previous: string[]): string[] {
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new InvalidArgumentError('expected rule ids, e.g. log-retention');
  return [...previous, ...ids];
}

/** Adds `synkti infra audit|cost|preview|up|destroy|outputs`. */
export function registerInfraCommands(program: Command): void {
  const infra = program
    .command('infra')
    .description('infrastructure as code (Pulumi): security audit, cost estimate, preview with a saved plan, apply it, destroy, outputs');
  const common = (cmd: Command): Command =>
    cmd
      .option('--infra-config <file>', `infra config JSON: {"serve": {...}, "batch": {...}} (default: ./${DEFAULT_INFRA_CONFIG_FILE})`)
      .option('--stack <name>', 'stack name; selects the dev/staging/production preset', stackOption, 'dev')
      .option('--component <name>', 'only this component: serve, batch, kubernetes or pipelines', componentOption);

  common(
    infra.command('audit').description("check the stack's resources against the security rules (docs/security.md); exits 1 on any breach"),
  )
    .option('--from <file>', 'audit `pulumi preview --json` or `pulumi stack export` output instead of the config')
    .option('--skip <rules>', 'skip these rule ids (comma-separated; shown as skipped)', ruleList, [])
    .option('--json', 'print the report as JSON', false)
    .action(
      async (o: { infraConfig?: string; stack: string; component?: InfraComponent; from?: string; skip: string[]; json: boolean }) => {
        await runInfraAudit({ ...o, config: o.infraConfig }, (text) => console.log(text));
      },
    );

  infra
    .command('cost')
    .description('estimate what the stack costs per hour and per month, from the price table shipped in the repo')
    .argument('[stack]', 'stack name; selects the dev/staging/production preset', 'dev')
    .option('--infra-config <file>', `infra config JSON (default: ./${DEFAULT_INFRA_CONFIG_FILE}, else every AWS component's defaults)`)
    .option('--component <name>', 'only this component: serve, batch, kubernetes or pipelines', componentOption)
    .option(
      '--hours-per-day <h>',
      'hours a day the compute that scales runs (instances, tasks); always-on services count 24',
      hoursOption,
      24,
    )
    .option('--sqs-requests <n>', 'SQS requests a month across the queues', amountOption, 0)
    .option('--s3-gb <n>', 'GB stored in the buckets', amountOption, 0)
    .option('--at-max', 'price Auto Scaling groups and services at their maximum size', false)
    .option('--prices <file>', 'a price table shaped like packages/infra/data/prices-us-east-1.json')
    .option('--json', 'print JSON', false)
    .action(
      async (
        stack: string,
        o: {
          infraConfig?: string;
          component?: InfraComponent;
          hoursPerDay: number;
          sqsRequests: number;
          s3Gb: number;
          atMax: boolean;
          prices?: string;
          json: boolean;
        },
      ) => {
        await runInfraCost({ ...o, stack, config: o.infraConfig }, (text) => console.log(text));
      },
    );

  for (const [action, description] of [
    ['preview', 'audit, then preview the changes and save the plan (needs the Pulumi CLI)'],
    ['up', 'apply exactly the plan saved by preview (needs the Pulumi CLI)'],
    ['destroy', 'destroy the stack; the models bucket is protected and kept (needs the Pulumi CLI)'],
    ['outputs', 'print the stack outputs (needs the Pulumi CLI)'],
  ] as const) {
    common(infra.command(action).description(description))
      .option('--plan <file>', 'plan file (default: ./.synkti/infra-<stack>.plan.json)')
      .option(
        '--backend <url>',
        'state backend: file://… for a personal dev stack, s3://bucket?region=… for shared stacks (default: PULUMI_BACKEND_URL, else file://~/.synkti/pulumi)',
      )
      .option('--json', 'print JSON', false)
      .action(
        async (o: { infraConfig?: string; stack: string; component?: InfraComponent; plan?: string; backend?: string; json: boolean }) => {
          await runInfraDeploy(action, { ...o, config: o.infraConfig }, (text) => console.log(text));
        },
      );
  }
}
