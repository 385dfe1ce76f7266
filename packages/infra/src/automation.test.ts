/**
 * The Automation API entry points without a Pulumi CLI: a clear install message; with one
 * (a stand-in on PATH), `up` refuses to run without the plan `preview` saves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSynktiError } from '@synkti/core';
import { findPulumiCli, infraOutputs, infraPreview, infraUp, PULUMI_INSTALL_URL } from './automation.ts';

test('without the Pulumi CLI every deploy path says how to install it', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'synkti-infra-nocli-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const env = { PATH: home, HOME: home };
  assert.equal(findPulumiCli(env), undefined);
  for (const [action, run] of [
    ['preview', () => infraPreview({ stack: 'dev', config: {}, env })],
    ['up', () => infraUp({ stack: 'dev', config: {}, env })],
    ['outputs', () => infraOutputs({ stack: 'dev', config: {}, env })],
  ] as const) {
    await assert.rejects(run(), (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_PULUMI_CLI_MISSING'), String(error));
      assert.match(error.message, new RegExp(`synkti infra ${action} needs the Pulumi CLI`));
      assert.equal(error.hint?.includes(`install the Pulumi CLI (${PULUMI_INSTALL_URL})`), true);
      return true;
    });
  }
});

test('with a Pulumi CLI on PATH, up refuses to apply without a saved plan', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-infra-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'pulumi');
  writeFileSync(fake, '#!/bin/sh\nexit 1\n');
  chmodSync(fake, 0o755);
  const env = { PATH: dir, HOME: dir };
  assert.equal(findPulumiCli(env), fake);
  await assert.rejects(infraUp({ stack: 'dev', config: {}, env, planFile: join(dir, 'missing.plan.json') }), (error: unknown) => {
    assert.ok(isSynktiError(error, 'E_INFRA_NO_PLAN'));
    assert.match(error.hint ?? '', /synkti infra preview --stack dev/);
    return true;
  });
});
