/**
 * Decides one authorization with `@cloud-copilot/iam-simulate` (every IAM condition
 * operator, ForAllValues/ForAnyValue, IfExists, policy variables). The simulator is
 * AGPL-3.0: a root devDependency for tests and the demo, loaded here only by a dynamic
 * import and never a dependency of a published package. Without it there is no IAM truth:
 * loading fails with E_IAM_SIMULATOR_MISSING rather than silently allowing every call.
 */
import { SynktiError } from '@synkti/core';
import type { AuthorizationCheck } from './iam-actions.ts';
import type { NamedPolicy } from './iam-policies.ts';

export interface IamDecision {
  allowed: boolean;
  /** Why not, for the report: `no identity-based policy allows ...`, an explicit deny, or the simulator's error. */
  reason: string;
}

export interface IamEvaluator {
  evaluate(input: {
    principalArn: string;
    account: string;
    policies: readonly NamedPolicy[];
    check: AuthorizationCheck;
  }): Promise<IamDecision>;
}

/** What this module uses of the simulator (typed here: the package is loaded by name at run time). */
interface SimulatorModule {
  runSimulation(
    simulation: unknown,
    options: Record<string, unknown>,
  ): Promise<{
    resultType: 'error' | 'single' | 'wildcard';
    overallResult?: 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';
    errors?: { message?: string } & Record<string, unknown>;
  }>;
}

export const IAM_SIMULATOR_PACKAGE = '@cloud-copilot/iam-simulate';

/** Loads the simulator; E_IAM_SIMULATOR_MISSING when it is not installed. */
export async function loadIamSimulator(specifier: string = IAM_SIMULATOR_PACKAGE): Promise<IamEvaluator> {
  let mod: SimulatorModule;
  try {
    mod = (await import(specifier)) as SimulatorModule;
  } catch (error) {
    throw new SynktiError('E_IAM_SIMULATOR_MISSING', `the IAM simulator (${specifier}) could not be loaded: ${(error as Error).message}`, {
      hint: `npm install (it is a root devDependency, AGPL-3.0, for tests and the demo only); without it the emulator cannot check IAM`,
    });
  }
  return {
    async evaluate({ principalArn, account, policies, check }) {
      const result = await mod.runSimulation(
        {
          identityPolicies: policies.map((p) => ({ name: p.name, policy: p.policy })),
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          ...(check.resourcePolicy ? { resourcePolicy: check.resourcePolicy } : {}),
          request: {
            action: check.action,
            principal: principalArn,
            resource: { resource: check.resource, accountId: account },
            contextVariables: check.context,
          },
        },
        {},
      );
      if (result.resultType === 'error') {
        // An action or resource the simulator does not know: fail closed, and say so.
        return { allowed: false, reason: `the simulator refused the request (${JSON.stringify(result.errors).slice(0, 300)})` };
      }
      if (result.overallResult === 'Allowed') return { allowed: true, reason: 'allowed' };
      return {
        allowed: false,
        reason:
          result.overallResult === 'ExplicitlyDenied'
            ? `explicit deny in an identity-based policy`
            : `no identity-based policy allows the ${check.action} action`,
      };
    },
  };
}
