/**
 * Test helper: the issues `validateCluster` reports for a config that must be refused
 * (fails the test if the config is accepted or something other than a ConfigError is thrown).
 */
import assert from 'node:assert/strict';
import { ConfigError, type ConfigIssue } from '../config-error.ts';
import { validateCluster } from '../cluster-spec.ts';

export function configIssues(input: unknown): ConfigIssue[] {
  try {
    validateCluster(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues;
  }
  assert.fail('the config was accepted');
}
