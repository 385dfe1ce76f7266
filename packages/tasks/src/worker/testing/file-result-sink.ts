/**
 * A durable result sink for tests: one JSON line per result, appended and fsynced
 * before `send` resolves, so a process killed right after `send` keeps its result.
 */
import { open, readFile } from 'node:fs/promises';
import type { ResultSink, TaskResult } from '../types.ts';

export function fileResultSink<V>(path: string, afterStore?: (result: TaskResult<V>) => void): ResultSink<V> {
  return {
    async send(result) {
      const file = await open(path, 'a');
      try {
        await file.write(`${JSON.stringify(result)}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      afterStore?.(result);
    },
  };
}

export async function readResults<V = unknown>(path: string): Promise<TaskResult<V>[]> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TaskResult<V>);
}
