/** Runs the streaming load client (stream-load.ts) as its own process and returns its result line. */
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startTsChild } from './children.ts';

export interface StreamResult {
  requests: number;
  failed: number;
  events: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  delay_p50_ms: number;
  delay_p99_ms: number;
}

export interface StreamLoadOptions {
  streams: number;
  durationS: number;
  /** First starts spread over this long. @default 0 */
  staggerMs?: number;
  /** max_tokens asked of the server. @default 16 */
  maxTokens?: number;
}

const here = dirname(fileURLToPath(import.meta.url));

export function runStreamLoad(url: string, o: StreamLoadOptions): Promise<StreamResult> {
  const child: ChildProcess = startTsChild(join(here, 'stream-load.ts'), {
    URL: url,
    STREAMS: String(o.streams),
    DURATION_S: String(o.durationS),
    STAGGER_MS: String(o.staggerMs ?? 0),
    MAX_TOKENS: String(o.maxTokens ?? 16),
  });
  return new Promise((resolve, reject) => {
    let result: StreamResult | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as StreamResult & { result?: boolean };
        if (parsed.result === true) result = parsed;
      } catch {
        // not the result line
      }
    });
    child.once('exit', (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`stream load client exited with code ${code} and no result`));
    });
  });
}
