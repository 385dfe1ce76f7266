/**
 * The GitHub Actions workflow `synkti gitops init` writes. Job graph:
 *   test -> preview (pull requests and pushes to the branch; saves the plan as an artifact)
 *        -> apply   (pushes to the branch only; downloads that artifact and applies exactly it)
 * The plan applied is the one previewed for the same commit in the same run: a plan from
 * the pull request's head would describe a different commit than the merge.
 */

export interface GitopsWorkflowOptions {
  /** Branch whose pushes apply. */
  branch: string;
  /** Pulumi stack (selects the dev/staging/production preset). */
  stack: string;
  region: string;
  /** Plan file path inside the checkout. */
  planFile: string;
}

export const PLAN_ARTIFACT_PREFIX = 'synkti-plan-';

/** Quotes a value for YAML (JSON strings are valid YAML flow scalars). */
function q(value: string): string {
  return JSON.stringify(value);
}

export function renderWorkflow(o: GitopsWorkflowOptions): string {
  const artifact = `${PLAN_ARTIFACT_PREFIX}\${{ github.sha }}`;
  const setup = `      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
          cache: npm
      - run: npm ci`;
  // Without a command, pulumi/actions only installs the Pulumi CLI (synkti drives it).
  const pulumi = '      - uses: pulumi/actions@v6';
  return `# Written by \`synkti gitops init\`. Infrastructure changes go through pull requests:
# test, then preview with a saved plan; on ${o.branch}, apply exactly the plan previewed.
# AWS access is by OIDC (no stored keys): set the repository variables
# SYNKTI_PREVIEW_ROLE_ARN and SYNKTI_APPLY_ROLE_ARN to the outputs of infra/synkti-gitops,
# and PULUMI_BACKEND_URL to the state bucket (s3://...).
name: synkti-infra

on:
  pull_request:
    branches: [${q(o.branch)}]
  push:
    branches: [${q(o.branch)}]

permissions:
  contents: read

# One infrastructure change at a time; never cancel an apply half way.
concurrency:
  group: synkti-infra-\${{ github.ref }}
  cancel-in-progress: false

env:
  SYNKTI_STACK: ${q(o.stack)}
  AWS_REGION: ${q(o.region)}
  SYNKTI_PLAN: ${q(o.planFile)}
  PULUMI_BACKEND_URL: \${{ vars.PULUMI_BACKEND_URL }}

jobs:
  test:
    runs-on: ubuntu-latest
    steps:
${setup}
      - run: npm test

  preview:
    needs: [test]
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    steps:
${setup}
${pulumi}
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: \${{ vars.SYNKTI_PREVIEW_ROLE_ARN }}
          aws-region: \${{ env.AWS_REGION }}
      - name: synkti infra preview (audit, then save the plan)
        run: npx synkti infra preview --stack "$SYNKTI_STACK" --plan "$SYNKTI_PLAN"
      - uses: actions/upload-artifact@v4
        with:
          name: ${artifact}
          path: \${{ env.SYNKTI_PLAN }}
          if-no-files-found: error
          include-hidden-files: true
          retention-days: 7

  apply:
    needs: [test, preview]
    if: github.event_name == 'push' && github.ref == ${q(`refs/heads/${o.branch}`).replace(/"/g, "'")}
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    steps:
${setup}
${pulumi}
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: \${{ vars.SYNKTI_APPLY_ROLE_ARN }}
          aws-region: \${{ env.AWS_REGION }}
      - uses: actions/download-artifact@v4
        with:
          name: ${artifact}
          path: ${q(dirnameOf(o.planFile))}
      - name: synkti infra up (exactly the saved plan)
        run: npx synkti infra up --stack "$SYNKTI_STACK" --plan "$SYNKTI_PLAN"
`;
}

function dirnameOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '.' : path.slice(0, i);
}
