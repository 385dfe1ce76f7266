/**
 * The docs cannot rot: every ```sh block in docs/*.md is run (bash -euo pipefail, in a fresh
 * project directory, `synkti` on PATH as this checkout's CLI) and must exit 0, and every
 * `# expect: <regex>` comment in a block must match the block's output. Blocks marked
 * ```sh-aws / ```sh-slow / ```text are not run (they need AWS, the Pulumi CLI, a GPU, or a
 * minute), but every `synkti <command>` written anywhere in a code span or block of the docs
 * must be a command the CLI really has (its own completion lists them).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CLI_MAIN, REPO_ROOT } from './helpers/cli.ts';

const DOCS_DIR = join(REPO_ROOT, 'docs');
const BLOCK_TIMEOUT_MS = 90_000;

interface CodeBlock {
  file: string;
  line: number;
  lang: string;
  body: string;
}

function docFiles(): string[] {
  return readdirSync(DOCS_DIR)
    .filter((f) => f.endsWith('.md'))
    .sort();
}

function codeBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(join(DOCS_DIR, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  let open: { lang: string; line: number; body: string[] } | undefined;
  lines.forEach((text, index) => {
    const fence = /^```\s*([\w-]*)\s*$/.exec(text);
    if (!fence) {
      open?.body.push(text);
      return;
    }
    if (open) {
      blocks.push({ file, line: open.line, lang: open.lang, body: open.body.join('\n') });
      open = undefined;
    } else {
      open = { lang: fence[1] ?? '', line: index + 1, body: [] };
    }
  });
  assert.equal(open, undefined, `${file}: a code block opened at line ${open?.line} is never closed`);
  return blocks;
}

/** Text the check of `synkti <command>` reads: code blocks and inline code spans. */
function codeText(file: string): string[] {
  const raw = readFileSync(join(DOCS_DIR, file), 'utf8');
  const blocks = codeBlocks(file).map((b) => b.body);
  const withoutBlocks = raw.replace(/^```[\s\S]*?^```\s*$/gm, '');
  const spans = [...withoutBlocks.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? '');
  return [...blocks, ...spans];
}

/** What the CLI's own shell completion offers after `words` (the real command table). */
function completions(words: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, '__complete', '--', ...words, ''], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`synkti __complete -- ${words.join(' ')} exited ${code}: ${stderr}`));
      else
        resolve(
          stdout
            .split('\n')
            .map((s) => s.trim())
            .filter(Boolean),
        );
    });
  });
}

// One shared PATH shim: `synkti` runs this checkout's CLI, as an installed one would.
const shimDir = mkdtempSync(join(tmpdir(), 'synkti-docs-bin-'));
writeFileSync(join(shimDir, 'synkti'), `#!/bin/sh\nexec "${process.execPath}" "${CLI_MAIN}" "$@"\n`);
chmodSync(join(shimDir, 'synkti'), 0o755);
const projects: string[] = [];
after(() => {
  for (const dir of projects) {
    // A block that failed half-way may have left a local fleet running: stop it.
    if (existsSync(join(dir, '.synkti')))
      spawnSync(join(shimDir, 'synkti'), ['down', '--force', '--timeout', '10s'], { cwd: dir, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
  rmSync(shimDir, { recursive: true, force: true });
});

/** A fresh project directory: node_modules (so `@synkti/core` resolves, as after `npm install synkti`) and the repo's examples/. */
function makeDocsProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-docs-'));
  projects.push(dir);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  symlinkSync(join(REPO_ROOT, 'examples'), join(dir, 'examples'));
  mkdirSync(join(dir, 'tmp'));
  return dir;
}

function runBlock(block: CodeBlock, cwd: string): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  const script = join(cwd, 'tmp', 'block.sh');
  writeFileSync(script, `${block.body}\n`);
  return new Promise((resolve, reject) => {
    // detached: the block runs in its own process group, so a timeout kills everything it started.
    const child = spawn('bash', ['-euo', 'pipefail', script], {
      cwd,
      detached: true,
      env: { ...process.env, PATH: `${shimDir}:${process.env.PATH ?? ''}`, SYNKTI_LOG_LEVEL: 'info', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, BLOCK_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        /* nothing left */
      }
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

const allBlocks = docFiles().flatMap(codeBlocks);
// SYNKTI_DOCS_ONLY=serve.md (comma-separated) runs only those pages' blocks while editing them.
const only = process.env.SYNKTI_DOCS_ONLY?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const runnable = allBlocks.filter((b) => b.lang === 'sh' && (!only || only.includes(b.file)));

test('docs exist: a page per shape, operations, troubleshooting, security, comparison', () => {
  const files = docFiles();
  for (const page of [
    'serve.md',
    'batch.md',
    'pipelines.md',
    'clusters.md',
    'operations.md',
    'troubleshooting.md',
    'security.md',
    'comparison.md',
  ]) {
    assert.ok(files.includes(page), `docs/${page} is missing`);
  }
  assert.ok(allBlocks.filter((b) => b.lang === 'sh').length >= 10, `only ${runnable.length} runnable sh blocks in docs/`);
});

test('every code block is tagged: sh (run by this test), or sh-aws / sh-slow / text / a language', () => {
  for (const b of allBlocks) {
    assert.notEqual(b.lang, '', `${b.file}:${b.line}: untagged code block (use sh, sh-aws, sh-slow, text, ts, json...)`);
    assert.notEqual(b.lang, 'bash', `${b.file}:${b.line}: use sh (run by tests/docs.test.ts) or sh-aws (not run)`);
  }
});

test('every `synkti <command>` in the docs is a real command', async () => {
  const mentions: Array<{ file: string; command: string; sub: string | undefined }> = [];
  for (const file of docFiles()) {
    for (const text of codeText(file)) {
      for (const m of text.matchAll(/(?:^|[\s(;|&`"'$])synkti[ \t]+([a-z][a-z0-9-]*)(?:[ \t]+([a-z][a-z0-9-]*))?/gm)) {
        if (m[1]) mentions.push({ file, command: m[1], sub: m[2] });
      }
    }
  }
  assert.ok(mentions.length > 20, `only ${mentions.length} synkti commands found in the docs`);
  const top = new Set(await completions([]));
  assert.ok(top.has('up') && top.has('batch'), `unexpected completion output: ${[...top].join(' ')}`);
  // Subcommands of every command written with a following word, asked in parallel (a group loads its code).
  const withSub = [...new Set(mentions.filter((m) => m.sub !== undefined && top.has(m.command)).map((m) => m.command))];
  const subs = new Map(await Promise.all(withSub.map(async (c) => [c, new Set(await completions([c]))] as const)));
  const problems: string[] = [];
  for (const { file, command, sub } of mentions) {
    if (!top.has(command)) {
      problems.push(`${file}: synkti ${command} (no such command)`);
      continue;
    }
    const known = subs.get(command);
    // Groups with subcommands (worker, batch, infra, pipeline): the next word must be one of them.
    if (sub !== undefined && known !== undefined && known.size > 0 && !known.has(sub))
      problems.push(`${file}: synkti ${command} ${sub} (no such subcommand)`);
  }
  assert.deepEqual([...new Set(problems)], []);
});

test('every ```sh block in docs/ runs and exits 0', { concurrency: 3 }, async (t) => {
  await Promise.all(
    runnable.map((block) =>
      t.test(`${block.file}:${block.line}`, { timeout: BLOCK_TIMEOUT_MS + 15_000 }, async () => {
        const dir = makeDocsProject();
        const result = await runBlock(block, dir);
        const where = `${block.file}:${block.line} (${result.ms} ms)`;
        assert.equal(result.code, 0, `${where} exited ${result.code}:\n${block.body}\n--- output ---\n${result.output.slice(-4000)}`);
        for (const m of block.body.matchAll(/#\s*expect:\s*(.+?)\s*$/gm)) {
          const pattern = new RegExp(m[1] ?? '', 'm');
          assert.match(result.output, pattern, `${where}: output does not match ${pattern}\n--- output ---\n${result.output.slice(-4000)}`);
        }
        assert.ok(
          !existsSync(join(dir, '.synkti')) || !hasRunningFleet(dir),
          `${where}: left a fleet running (end the block with synkti down --force)`,
        );
      }),
    ),
  );
});

/** True when `synkti status --json` in dir still lists a running instance. */
function hasRunningFleet(dir: string): boolean {
  if (!existsSync(join(dir, 'synkti.config.ts'))) return false;
  const out = spawnSync(join(shimDir, 'synkti'), ['worker', 'list', '--json'], { cwd: dir, encoding: 'utf8' });
  if (out.status !== 0) return false;
  const list = JSON.parse(out.stdout || '[]') as Array<{ state?: string }>;
  return list.some((i) => i.state === 'running' || i.state === 'pending');
}
