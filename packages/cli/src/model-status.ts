/**
 * The model part of `synkti status`: a node's agent reports its model fetch under
 * `model` in GET /status (files and bytes done, or the error naming the file).
 */

import type { AgentModelStatus } from '@synkti/core/contracts';

/** What an agent's /status says about its model (the agent's ModelProgress; the schema is in @synkti/core/contracts). */
export type { AgentModelStatus };

function percent(done: number, total: number): string {
  if (total <= 0) return '0%';
  return `${Math.min(100, Math.floor((done / total) * 100))}%`;
}

/** A short note for the STATE column while the model is not ready; empty once it is. */
export function modelNote(model: AgentModelStatus | undefined): string {
  if (!model || model.state === 'ready') return '';
  if (model.state === 'failed') return model.error?.file ? `model failed: ${model.error.file}` : 'model failed';
  if (model.files === 0) return 'model: reading manifest';
  return `model ${percent(model.bytesDone, model.bytes)} (${model.filesDone}/${model.files} files)`;
}

/** One block per node whose model fetch failed: the error and its hint, under the table. */
export function modelProblemLines(nodes: { id: string; model: AgentModelStatus | undefined }[]): string[] {
  const lines: string[] = [];
  for (const { id, model } of nodes) {
    if (model?.state !== 'failed' || !model.error) continue;
    // Agent text is shown, never interpreted: strip control characters a hostile peer could send.
    // eslint-disable-next-line no-control-regex -- the control characters are what it removes
    const clean = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 500);
    lines.push(`${id}: model ${clean(model.uri)} not ready (${clean(model.error.code)}): ${clean(model.error.message)}`);
    if (model.error.hint) lines.push(`  hint: ${clean(model.error.hint)}`);
  }
  return lines;
}
