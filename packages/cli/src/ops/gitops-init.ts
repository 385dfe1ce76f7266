/**
 * `synkti gitops init`: writes the GitHub Actions workflow and the IaC (a small Pulumi
 * TypeScript program plus the four policy documents it reads) for the OIDC roles the
 * workflow assumes. Writes nothing if any target exists, unless forced.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { SynktiError } from '@synkti/core';
import { gitopsPolicies, renderWorkflow, ACCOUNT_ID_PLACEHOLDER, GITHUB_OIDC_AUDIENCE, GITHUB_OIDC_HOST } from '@synkti/infra/gitops';

export const WORKFLOW_FILE = '.github/workflows/synkti-infra.yml';
export const GITOPS_IAC_DIR = 'infra/synkti-gitops';

const REPO_RE = /^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/;
const BRANCH_RE = /^(?!\/)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._/-]{1,200}(?<![/.])$/;

export interface GitopsInitOptions {
  /** GitHub repository `owner/name`. @default parsed from `git remote get-url origin` in `dir` */
  repo?: string | undefined;
  /** Branch whose pushes apply. @default 'main' */
  branch?: string | undefined;
  /** Repository root to write into. @default process.cwd() */
  dir?: string | undefined;
  /** Infra stack the workflow previews and applies. @default 'production' */
  stack?: string | undefined;
  /** AWS region of the stacks. @default AWS_REGION, else 'us-east-1' */
  region?: string | undefined;
  /** Name prefix of the stacks' resources (infra `projectName`). @default 'synkti' */
  project?: string | undefined;
  /** Overwrite files that exist. @default false */
  force?: boolean | undefined;
}

export interface GitopsInitResult {
  repo: string;
  branch: string;
  /** Absolute paths written. */
  files: string[];
}

/** `owner/name` from a GitHub remote URL (https or ssh), or undefined. */
export function repoFromRemoteUrl(url: string): string | undefined {
  const match = /github\.com[:/]([^/\s]+\/[^/\s]+?)(?:\.git)?\/?$/.exec(url.trim());
  return match?.[1];
}

function inferRepo(dir: string): string | undefined {
  try {
    const url = execFileSync('git', ['-C', dir, 'remote', 'get-url', 'origin'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return repoFromRemoteUrl(url);
  } catch {
    return undefined;
  }
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function pulumiProgram(o: { repo: string; branch: string; project: string }): string {
  return `// Written by \`synkti gitops init\`: the OIDC roles .github/workflows/synkti-infra.yml assumes.
// Apply once, by hand, with credentials that may manage IAM:
//   cd ${GITOPS_IAC_DIR} && npm install && pulumi up
// then set the repository variables SYNKTI_PREVIEW_ROLE_ARN and SYNKTI_APPLY_ROLE_ARN to
// the outputs. The role names do not start with "${o.project}-", so the apply role (which
// may manage "${o.project}-*" roles) cannot change its own permissions.
import { readFileSync } from 'fs';
import { join } from 'path';
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

const account = aws.getCallerIdentityOutput({}).accountId;
const policy = (file: string): pulumi.Output<string> =>
  account.apply((id) => readFileSync(join(__dirname, file), 'utf8').split(${JSON.stringify(ACCOUNT_ID_PLACEHOLDER)}).join(id));

// One per account: import the existing one (pulumi import) if the account already has it.
const github = new aws.iam.OpenIdConnectProvider('github', {
  url: 'https://${GITHUB_OIDC_HOST}',
  clientIdLists: ['${GITHUB_OIDC_AUDIENCE}'],
});

function role(kind: 'preview' | 'apply'): aws.iam.Role {
  const r = new aws.iam.Role(kind, {
    name: 'gha-${o.project}-infra-' + kind,
    description: 'GitHub Actions ${o.repo} (' + kind + ', branch ${o.branch}): synkti infra',
    assumeRolePolicy: policy(kind + '-trust-policy.json'),
    maxSessionDuration: 3600,
  }, { dependsOn: [github] });
  new aws.iam.RolePolicy(kind, { role: r.id, policy: policy(kind + '-permissions-policy.json') });
  return r;
}

export const previewRoleArn: pulumi.Output<string> = role('preview').arn;
export const applyRoleArn: pulumi.Output<string> = role('apply').arn;
`;
}

const IAC_PACKAGE_JSON = {
  name: 'synkti-gitops',
  private: true,
  main: 'index.ts',
  dependencies: { '@pulumi/aws': '^7.48.0', '@pulumi/pulumi': '^3.248.0' },
  devDependencies: { '@types/node': '^20.0.0', typescript: '^5.9.0' },
};

// CommonJS, as Pulumi's TypeScript templates: the program uses __dirname.
const IAC_TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'es2022',
    module: 'commonjs',
    moduleResolution: 'node',
    esModuleInterop: true,
    skipLibCheck: true,
    types: ['node'],
  },
  files: ['index.ts'],
};

export function gitopsInit(options: GitopsInitOptions = {}): GitopsInitResult {
  const dir = resolve(options.dir ?? process.cwd());
  const repo = options.repo ?? inferRepo(dir);
  if (repo === undefined) {
    throw new SynktiError('E_USAGE', `cannot tell the GitHub repository of ${dir}`, {
      hint: 'pass --repo owner/name (the origin remote is not a github.com URL)',
    });
  }
  if (!REPO_RE.test(repo)) throw new SynktiError('E_USAGE', `--repo ${repo} is not owner/name`, { hint: 'e.g. --repo acme/fleet-infra' });
  const branch = options.branch ?? 'main';
  if (!BRANCH_RE.test(branch)) throw new SynktiError('E_USAGE', `--branch ${branch} is not a branch name`, { hint: 'e.g. --branch main' });
  const project = options.project ?? 'synkti';
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(project))
    throw new SynktiError('E_USAGE', `--project ${project} is not a resource name prefix`, {
      hint: 'lowercase letters, digits and dashes, as the infra projectName',
    });
  const stack = options.stack ?? 'production';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(stack))
    throw new SynktiError('E_USAGE', `--stack ${stack} is not a stack name`, {
      hint: 'letters, digits, ".", "_" and "-", e.g. production',
    });
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region))
    throw new SynktiError('E_USAGE', `--region ${region} is not an AWS region`, { hint: 'e.g. --region eu-west-1' });

  const policies = gitopsPolicies({ repo, branch, project, region });
  const iac = join(dir, GITOPS_IAC_DIR);
  const files: Record<string, string> = {
    [join(dir, WORKFLOW_FILE)]: renderWorkflow({ branch, stack, region, planFile: `.synkti/infra-${stack}.plan.json` }),
    [join(iac, 'Pulumi.yaml')]: `name: synkti-gitops\nruntime: nodejs\ndescription: OIDC roles for ${repo}'s synkti-infra workflow\n`,
    [join(iac, 'index.ts')]: pulumiProgram({ repo, branch, project }),
    [join(iac, 'package.json')]: json(IAC_PACKAGE_JSON),
    [join(iac, 'tsconfig.json')]: json(IAC_TSCONFIG),
    [join(iac, 'preview-trust-policy.json')]: json(policies.previewTrust),
    [join(iac, 'preview-permissions-policy.json')]: json(policies.previewPermissions),
    [join(iac, 'apply-trust-policy.json')]: json(policies.applyTrust),
    [join(iac, 'apply-permissions-policy.json')]: json(policies.applyPermissions),
  };
  // All or nothing: a half-written set would mix old and new roles and workflow.
  const existing = Object.keys(files).filter((file) => existsSync(file));
  if (existing.length > 0 && !options.force) {
    throw new SynktiError(
      'E_EXISTS',
      `${existing.map((f) => relative(dir, f)).join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing written`,
      {
        hint: 'pass --force to overwrite them (review the diff before committing)',
      },
    );
  }
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  return { repo, branch, files: Object.keys(files) };
}
