import { InvalidArgumentError, type Command } from 'commander';

// Implementations are imported when a command runs: `doctor` pulls in the AWS SDK.

function repoOption(value: string): string {
  if (!/^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/.test(value))
    throw new InvalidArgumentError('expected owner/name, e.g. acme/fleet-infra');
  return value;
}

/** Adds `synkti doctor` and `synkti gitops init`. */
export function registerOpsCommands(program: Command): void {
  program
    .command('doctor')
    .description(
      'check this machine, the config and the cloud account (credentials, Pulumi CLI, tags, IMDS settings, permissions) and say what to fix',
    )
    .option('--json', 'print the findings as JSON', false)
    .action(async (o: { json: boolean }, command: Command) => {
      const { config } = command.optsWithGlobals<{ config?: string }>();
      const { runDoctor } = await import('../ops/doctor.ts');
      const { renderFindings } = await import('../ops/doctor-finding.ts');
      const report = await runDoctor({ configFile: config, cwd: process.cwd() });
      console.log(o.json ? JSON.stringify(report, null, 2) : renderFindings(report.findings));
      // 1 (EXIT.failure) when any check failed; warnings alone exit 0.
      if (report.exitCode !== 0) process.exitCode = report.exitCode;
    });

  const gitops = program
    .command('gitops')
    .description(
      'GitOps for the infrastructure: a GitHub Actions workflow (test, preview with a saved plan, apply it on main) and its OIDC roles',
    );
  gitops
    .command('init')
    .description('write .github/workflows/synkti-infra.yml and infra/synkti-gitops (the least-privilege OIDC roles it assumes)')
    .option('--repo <owner/name>', 'GitHub repository the roles trust (default: from the origin remote)', repoOption)
    .option('--branch <name>', 'branch whose pushes apply', 'main')
    .option('--dir <path>', 'repository root to write into', '.')
    .option('--stack <name>', 'infra stack the workflow previews and applies', 'production')
    .option('--region <region>', 'AWS region of the stacks (default: AWS_REGION, else us-east-1)')
    .option('--project <prefix>', "name prefix of the stacks' resources (infra projectName)", 'synkti')
    .option('--force', 'overwrite files that exist', false)
    .option('--json', 'print what was written as JSON', false)
    .action(
      async (o: {
        repo?: string;
        branch: string;
        dir: string;
        stack: string;
        region?: string;
        project: string;
        force: boolean;
        json: boolean;
      }) => {
        const { gitopsInit } = await import('../ops/gitops-init.ts');
        const path = await import('node:path');
        const result = gitopsInit(o);
        if (o.json) {
          console.log(JSON.stringify(result));
          return;
        }
        console.log(result.files.map((f) => `wrote ${path.relative(process.cwd(), f) || f}`).join('\n'));
        console.log(`\nnext:\n  1. create the roles once: cd infra/synkti-gitops && npm install && pulumi up`);
        console.log(
          `  2. in ${result.repo}'s settings set the variables SYNKTI_PREVIEW_ROLE_ARN, SYNKTI_APPLY_ROLE_ARN (outputs of step 1) and PULUMI_BACKEND_URL`,
        );
        console.log(`  3. commit and open a pull request: it is tested and previewed; merging to ${result.branch} applies that plan`);
      },
    );
}
