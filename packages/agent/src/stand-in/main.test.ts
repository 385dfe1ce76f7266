import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parseStandInArgs } from './args.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

interface Started {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<[number | null, NodeJS.Signals | null]>;
}

function run(args: string[], env: Record<string, string> = {}): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, stderr: () => stderr, exit };
}

async function output(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const started = run(args);
  let stdout = '';
  started.child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const [code] = await started.exit;
  return { code, stdout, stderr: started.stderr() };
}

describe('stand-in command line', () => {
  test('parses durations and flags into options', () => {
    assert.deepEqual(
      parseStandInArgs(['--port', '9000', '--token-latency', '5ms', '--startup-delay', '2s', '--model', 'm', '--served-by', 'i-1']),
      {
        port: 9000,
        tokenLatencyMs: 5,
        startupDelayMs: 2000,
        model: 'm',
        servedBy: 'i-1',
      },
    );
    assert.equal(parseStandInArgs(['--help']), 'help');
    assert.deepEqual(parseStandInArgs(['--model-dir', '/var/lib/synkti/models/m']), { modelDir: '/var/lib/synkti/models/m' });
    assert.throws(() => parseStandInArgs(['--model-dir', ' ']), /--model-dir: empty path/);
    assert.throws(() => parseStandInArgs(['--port', '70000']), /--port/);
    assert.throws(() => parseStandInArgs(['--token-latency', 'soon']), /--token-latency/);
    assert.throws(() => parseStandInArgs(['--nope']), /nope/);
  });

  test('--help prints usage and exits 0; bad flags exit 2 with a message', async () => {
    const help = await output(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /STAND-IN for vLLM/);
    assert.match(help.stdout, /--token-latency/);
    const badPort = await output(['--port', 'eighty']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--port: "eighty" is not a port number/);
    const unknown = await output(['--colour']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /colour/);
  });

  test('SIGTERM lets an in-flight stream finish, refuses new connections, then exits 0', async (t) => {
    const started = run(['--port', '0', '--token-latency', '40ms'], { SYNKTI_INSTANCE_ID: 'i-test-1' });
    t.after(() => {
      if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill('SIGKILL');
    });
    while (!/listening on http:\/\/127\.0\.0\.1:(\d+)/.test(started.stderr())) {
      if (started.child.exitCode !== null) assert.fail(`exited early: ${started.stderr()}`);
      await once(started.child.stderr!, 'data');
    }
    assert.match(started.stderr(), /stand-in/i);
    assert.equal(started.stderr().trim().split('\n').length, 1, 'one startup line');
    const url = `http://127.0.0.1:${/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(started.stderr())![1]}`;

    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 15, stream: true }),
    });
    assert.equal(response.headers.get('x-served-by'), 'i-test-1');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });

    started.child.kill('SIGTERM');
    while (!/SIGTERM/.test(started.stderr())) await once(started.child.stderr!, 'data');
    await assert.rejects(fetch(`${url}/health`), 'no new connections while draining');

    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const events = text.split('\n\n').filter((e) => e !== '');
    assert.equal(events.length, 16);
    assert.equal(events.at(-1), 'data: [DONE]');
    const [code, signal] = await started.exit;
    assert.equal(signal, null);
    assert.equal(code, 0);
  });
});
