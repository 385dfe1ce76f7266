import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import ts from 'typescript';
import { MOCK_ACCOUNT, outputValue, runMockStack } from '@synkti/infra';
import { isSynktiError } from '@synkti/core';
import { gitopsInit, repoFromRemoteUrl, WORKFLOW_FILE, GITOPS_IAC_DIR } from './gitops-init.ts';
import type { PolicyDocument, PolicyStatement } from '@synkti/infra/gitops';

const BIN = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string[];
  if?: string;
  permissions?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, { branches: string[] }>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-gitops-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function readPolicy(dir: string, name: string): PolicyDocument {
  return JSON.parse(readFileSync(join(dir, GITOPS_IAC_DIR, name), 'utf8')) as PolicyDocument;
}

const list = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

test('the workflow parses as YAML: test first, preview saves the plan artifact, apply only on main applies that plan', (t) => {
  const dir = tempDir(t);
  gitopsInit({ dir, repo: 'acme/fleet', branch: 'main', stack: 'production', region: 'eu-west-1' });
  const wf = parse(readFileSync(join(dir, WORKFLOW_FILE), 'utf8')) as Workflow;

  assert.deepEqual(wf.on.pull_request?.branches, ['main']);
  assert.deepEqual(wf.on.push?.branches, ['main']);
  assert.deepEqual(wf.permissions, { contents: 'read' }, 'no id-token at the top level: only the jobs that need AWS get it');
  assert.deepEqual(Object.keys(wf.jobs).sort(), ['apply', 'preview', 'test']);

  const { test: testJob, preview, apply } = wf.jobs as Record<'test' | 'preview' | 'apply', Job>;
  assert.equal(testJob.needs, undefined);
  assert.ok(testJob.steps.some((s) => s.run === 'npm test'));
  assert.equal(testJob.permissions, undefined);

  assert.deepEqual(preview.needs, ['test']);
  assert.equal(preview.if, undefined, 'preview runs on pull requests too');
  assert.equal(preview.permissions?.['id-token'], 'write');
  const previewRun = preview.steps.find((s) => s.run?.includes('synkti infra preview'));
  assert.match(previewRun?.run ?? '', /--plan "\$SYNKTI_PLAN"/);
  const creds = preview.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
  assert.equal(creds?.with?.['role-to-assume'], '${{ vars.SYNKTI_PREVIEW_ROLE_ARN }}');
  const upload = preview.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
  assert.ok(upload, 'the plan is saved as an artifact');
  assert.ok(preview.steps.indexOf(upload) > preview.steps.indexOf(previewRun!), 'uploaded after it is written');
  assert.equal(upload.with?.path, '${{ env.SYNKTI_PLAN }}');
  assert.equal(upload.with?.['include-hidden-files'], true, 'the plan lives under .synkti/');

  assert.deepEqual(apply.needs, ['test', 'preview']);
  assert.equal(apply.if, "github.event_name == 'push' && github.ref == 'refs/heads/main'");
  assert.equal(apply.permissions?.['id-token'], 'write');
  assert.equal(
    apply.steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'))?.with?.['role-to-assume'],
    '${{ vars.SYNKTI_APPLY_ROLE_ARN }}',
  );
  const download = apply.steps.find((s) => s.uses?.startsWith('actions/download-artifact@'));
  const up = apply.steps.find((s) => s.run?.includes('synkti infra up'));
  assert.equal(download?.with?.name, upload.with?.name, 'apply downloads the artifact preview uploaded');
  assert.ok(up && apply.steps.indexOf(up) > apply.steps.indexOf(download!));
  assert.match(up.run!, /--plan "\$SYNKTI_PLAN"/);
  assert.ok(!apply.steps.some((s) => s.run?.includes('infra preview')), 'apply never re-plans');
  assert.equal((wf as unknown as { env: Record<string, string> }).env.SYNKTI_PLAN, '.synkti/infra-production.plan.json');
});

test('a different branch is used everywhere: triggers, apply condition, trust subject', (t) => {
  const dir = tempDir(t);
  gitopsInit({ dir, repo: 'acme/fleet', branch: 'release' });
  const wf = parse(readFileSync(join(dir, WORKFLOW_FILE), 'utf8')) as Workflow;
  assert.deepEqual(wf.on.push?.branches, ['release']);
  assert.match(wf.jobs.apply!.if!, /refs\/heads\/release'$/);
  const sub = readPolicy(dir, 'apply-trust-policy.json').Statement[0]!.Condition!.StringEquals!['token.actions.githubusercontent.com:sub'];
  assert.equal(sub, 'repo:acme/fleet:ref:refs/heads/release');
});

test('trust policies: OIDC audience sts.amazonaws.com, apply only from the branch, preview from pull requests', (t) => {
  const dir = tempDir(t);
  gitopsInit({ dir, repo: 'acme/fleet', branch: 'main' });
  const apply = readPolicy(dir, 'apply-trust-policy.json');
  assert.equal(apply.Statement.length, 1);
  const a = apply.Statement[0]!;
  assert.equal(a.Effect, 'Allow');
  assert.equal(a.Action, 'sts:AssumeRoleWithWebIdentity');
  assert.equal(a.Principal?.Federated, 'arn:aws:iam::<ACCOUNT_ID>:oidc-provider/token.actions.githubusercontent.com');
  assert.deepEqual(Object.keys(a.Condition!), ['StringEquals'], 'no StringLike: no wildcard subjects');
  assert.deepEqual(a.Condition!.StringEquals, {
    'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
    'token.actions.githubusercontent.com:sub': 'repo:acme/fleet:ref:refs/heads/main',
  });
  const p = readPolicy(dir, 'preview-trust-policy.json').Statement[0]!;
  assert.equal(p.Condition!.StringEquals!['token.actions.githubusercontent.com:aud'], 'sts.amazonaws.com');
  assert.deepEqual(p.Condition!.StringEquals!['token.actions.githubusercontent.com:sub'], [
    'repo:acme/fleet:pull_request',
    'repo:acme/fleet:ref:refs/heads/main',
  ]);
});

test('permission policies: no "*" or whole-service actions, no AdministratorAccess, IAM limited to project roles, preview read-only', (t) => {
  const dir = tempDir(t);
  gitopsInit({ dir, repo: 'acme/fleet', project: 'synkti' });
  const all = (doc: PolicyDocument): PolicyStatement[] => doc.Statement;
  const applyDoc = readPolicy(dir, 'apply-permissions-policy.json');
  const previewDoc = readPolicy(dir, 'preview-permissions-policy.json');
  for (const [name, doc] of [
    ['apply', applyDoc],
    ['preview', previewDoc],
  ] as const) {
    assert.equal(doc.Version, '2012-10-17');
    for (const s of all(doc)) {
      for (const action of list(s.Action)) {
        assert.notEqual(action, '*', `${name}/${s.Sid}: Action "*"`);
        assert.doesNotMatch(action, /^[a-z0-9-]+:\*$/, `${name}/${s.Sid}: whole service ${action}`);
        assert.doesNotMatch(action, /^iam:(Create|Put|Attach|Update)\w*\*/, `${name}/${s.Sid}: wildcard IAM write ${action}`);
      }
      assert.doesNotMatch(JSON.stringify(s), /AdministratorAccess|PowerUserAccess|IAMFullAccess/, `${name}/${s.Sid}`);
    }
  }
  const actionsOf = (doc: PolicyDocument) =>
    all(doc)
      .filter((s) => s.Effect === 'Allow')
      .flatMap((s) => list(s.Action));
  // IAM writes only on the project's roles; attachments only of the stacks' managed policies.
  for (const s of all(applyDoc).filter(
    (x) =>
      x.Effect === 'Allow' &&
      list(x.Action).some((a) => /^iam:(Create|Delete|Put|Attach|Detach|Update|Pass|Tag|Add|Remove)(?!ServiceLinked)/.test(a)),
  )) {
    for (const r of list(s.Resource)) assert.match(r, /^arn:aws:iam::<ACCOUNT_ID>:(role|instance-profile)\/synkti-\*$/, `${s.Sid}: ${r}`);
  }
  const attach = all(applyDoc).find((s) => list(s.Action).includes('iam:AttachRolePolicy'))!;
  assert.ok(list(attach.Condition?.ArnEquals?.['iam:PolicyARN']).length > 0, 'attachments are limited to named managed policies');
  const pass = all(applyDoc).find((s) => list(s.Action).includes('iam:PassRole'))!;
  assert.ok(pass.Condition?.StringEquals?.['iam:PassedToService'], 'PassRole only to named services');
  assert.ok(
    all(applyDoc).some((s) => s.Effect === 'Deny' && list(s.Action).includes('s3:DeleteBucket')),
    'protected buckets cannot be deleted by CI',
  );
  assert.ok(actionsOf(applyDoc).includes('ec2:CreateLaunchTemplate') && actionsOf(applyDoc).includes('autoscaling:CreateAutoScalingGroup'));
  // Preview: nothing that creates, changes or deletes except the backend's lock files.
  for (const s of all(previewDoc)) {
    for (const action of list(s.Action)) {
      if (/:(Create|Delete|Put|Update|Modify|Attach|Detach|Run|Terminate|Pass|Tag|Register|Deregister)/.test(action)) {
        assert.deepEqual(
          list(s.Resource).every((r) => r.endsWith('/.pulumi/locks/*')),
          true,
          `preview may write only lock files: ${s.Sid} ${action}`,
        );
      }
    }
  }
  const program = readFileSync(join(dir, GITOPS_IAC_DIR, 'index.ts'), 'utf8');
  assert.match(program, /new aws\.iam\.OpenIdConnectProvider/);
  assert.match(program, /'gha-synkti-infra-' \+ kind/, 'role names outside the synkti-* prefix the apply role manages');
});

test('refuses to overwrite without --force (writes nothing), overwrites with it', (t) => {
  const dir = tempDir(t);
  gitopsInit({ dir, repo: 'acme/fleet' });
  writeFileSync(join(dir, WORKFLOW_FILE), 'hand edited\n');
  assert.throws(
    () => gitopsInit({ dir, repo: 'other/repo' }),
    (e: unknown) => isSynktiError(e, 'E_EXISTS') && /synkti-infra\.yml/.test(e.message) && /--force/.test(e.hint ?? ''),
  );
  assert.equal(readFileSync(join(dir, WORKFLOW_FILE), 'utf8'), 'hand edited\n');
  assert.match(readFileSync(join(dir, GITOPS_IAC_DIR, 'apply-trust-policy.json'), 'utf8'), /acme\/fleet/, 'policies untouched too');
  gitopsInit({ dir, repo: 'other/repo', force: true });
  assert.match(readFileSync(join(dir, GITOPS_IAC_DIR, 'apply-trust-policy.json'), 'utf8'), /repo:other\/repo:ref:refs\/heads\/main/);
  assert.notEqual(readFileSync(join(dir, WORKFLOW_FILE), 'utf8'), 'hand edited\n');
});

test('repository from the origin remote URL; bad --repo, --stack and --branch rejected before anything is written', () => {
  assert.equal(repoFromRemoteUrl('git@github.com:acme/fleet.git\n'), 'acme/fleet');
  assert.equal(repoFromRemoteUrl('https://github.com/acme/fleet'), 'acme/fleet');
  assert.equal(repoFromRemoteUrl('https://gitlab.com/acme/fleet.git'), undefined);
  assert.throws(
    () => gitopsInit({ dir: tmpdir(), repo: 'acme/fleet/extra' }),
    (e: unknown) => isSynktiError(e, 'E_USAGE'),
  );
  assert.throws(
    () => gitopsInit({ dir: tmpdir(), repo: 'acme/fleet', stack: 'prod\nrun: evil' }),
    (e: unknown) => isSynktiError(e, 'E_USAGE'),
  );
  assert.throws(
    () => gitopsInit({ dir: tmpdir(), repo: 'acme/fleet', branch: 'main\n' }),
    (e: unknown) => isSynktiError(e, 'E_USAGE'),
  );
});

test('synkti gitops init through the CLI: writes the files, then refuses with exit 2 without --force', async (t) => {
  const dir = tempDir(t);
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(
        process.execPath,
        [BIN, 'gitops', 'init', '--dir', dir, '--repo', 'acme/fleet', ...args],
        { cwd: dir, timeout: 60_000 },
        (error, stdout, stderr) => {
          done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  const first = await run([]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /synkti-infra\.yml/);
  const second = await run([]);
  assert.equal(second.code, 2);
  assert.match(second.stderr, /already exist.*--force/s);
  assert.equal((await run(['--force'])).code, 0);
});

test('the generated Pulumi program compiles and, run under Pulumi mocks,, creates the OIDC provider and both roles with the policies filled in', async (t) => {
  const dir = tempDir(t);
  gitopsInit({ dir, repo: 'acme/fleet', branch: 'main' });
  const iac = join(dir, GITOPS_IAC_DIR);
  const source = readFileSync(join(iac, 'index.ts'), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    reportDiagnostics: true,
  });
  assert.deepEqual(out.diagnostics ?? [], []);

  // Evaluated as Pulumi's Node runtime would load it (CommonJS, __dirname = the project).
  const require = createRequire(import.meta.url);
  const { resources, value } = await runMockStack(() => {
    const module = { exports: {} as Record<string, unknown> };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- evaluates the generated program as Pulumi's runtime would
    new Function('exports', 'require', 'module', '__filename', '__dirname', out.outputText)(
      module.exports,
      require,
      module,
      join(iac, 'index.ts'),
      iac,
    );
    return module.exports as {
      previewRoleArn: import('@pulumi/pulumi').Output<string>;
      applyRoleArn: import('@pulumi/pulumi').Output<string>;
    };
  });
  assert.equal(await outputValue(value.applyRoleArn), `arn:aws:iam::${MOCK_ACCOUNT}:role/gha-synkti-infra-apply`);
  assert.equal(await outputValue(value.previewRoleArn), `arn:aws:iam::${MOCK_ACCOUNT}:role/gha-synkti-infra-preview`);
  const provider = resources.find((r) => r.type === 'aws:iam/openIdConnectProvider:OpenIdConnectProvider');
  assert.equal(provider?.inputs.url, 'https://token.actions.githubusercontent.com');
  assert.deepEqual(provider?.inputs.clientIdLists, ['sts.amazonaws.com']);
  const roles = resources.filter((r) => r.type === 'aws:iam/role:Role');
  assert.deepEqual(roles.map((r) => r.name).sort(), ['apply', 'preview']);
  for (const role of roles) {
    const trust = JSON.parse(String(role.inputs.assumeRolePolicy)) as PolicyDocument;
    assert.equal(
      trust.Statement[0]!.Principal?.Federated,
      `arn:aws:iam::${MOCK_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
    );
    const expected = JSON.parse(
      readFileSync(join(iac, `${role.name}-trust-policy.json`), 'utf8')
        .split('<ACCOUNT_ID>')
        .join(MOCK_ACCOUNT),
    ) as unknown;
    assert.deepEqual(trust, expected);
  }
  const inline = resources.filter((r) => r.type === 'aws:iam/rolePolicy:RolePolicy');
  assert.deepEqual(inline.map((r) => r.name).sort(), ['apply', 'preview']);
  for (const p of inline) {
    assert.doesNotMatch(String(p.inputs.policy), /<ACCOUNT_ID>/);
    assert.match(String(p.inputs.policy), new RegExp(`arn:aws:iam::${MOCK_ACCOUNT}:role/synkti-\\*|/\\.pulumi/locks/`));
  }
  const files = JSON.parse(readFileSync(join(iac, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; type?: string };
  assert.ok(files.dependencies['@pulumi/aws'] && files.dependencies['@pulumi/pulumi']);
  assert.equal(files.type, undefined, 'CommonJS, so __dirname exists');
});
