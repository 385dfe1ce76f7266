import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { zodEnglishOnly } from './zod-english-only.mjs';

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

// The plugin the CLI and agent bundles use: zod compiled in without its other languages,
// and zod still validating with its English messages.
test('a bundle of zod built with zodEnglishOnly holds English only and still validates', async (t) => {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'synkti-zod-english-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const entry = join(dir, 'entry.mjs');
  writeFileSync(
    entry,
    `import { z } from 'zod';
export const locales = Object.keys(z.locales);
export const issue = z.object({ port: z.number() }).safeParse({ port: 'x' }).error?.issues[0]?.message;
`,
  );
  const bundle = async (plugins: import('esbuild').Plugin[]): Promise<string> => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      nodePaths: [join(PACKAGE_DIR, 'node_modules'), join(PACKAGE_DIR, '../../node_modules')],
      plugins,
      logLevel: 'silent',
    });
    return result.outputFiles[0]!.text;
  };
  const [full, english] = await Promise.all([bundle([]), bundle([zodEnglishOnly])]);
  assert.match(
    full,
    /erhalten \$\{/,
    'without the plugin the bundle carries the German messages (the check below would prove nothing otherwise)',
  );
  assert.doesNotMatch(english, /erhalten \$\{/);
  assert.ok(english.length < full.length * 0.7, `English only: ${english.length} bytes, all languages ${full.length}`);
  const out = join(dir, 'english.mjs');
  writeFileSync(out, english);
  const loaded = (await import(pathToFileURL(out).href)) as { locales: string[]; issue: string | undefined };
  assert.deepEqual(loaded.locales, ['en']);
  assert.equal(loaded.issue, 'Invalid input: expected number, received string');
});
