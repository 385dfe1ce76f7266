/**
 * `@synkti/infra/gitops`: what `synkti gitops init` writes for running the stacks from
 * GitHub Actions: the OIDC roles' policy documents and the workflow. Pulumi-free (the
 * Pulumi program it writes is text), so the CLI loads it without Pulumi.
 */
export * from './gitops-policies.ts';
export * from './gitops-workflow.ts';
