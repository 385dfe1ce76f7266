/** The per-step summary bootstrap prints: what was created, what was already there. */
import type { BootstrapReport, ModelUploadReport } from '@synkti/infra/bootstrap';

const LABEL: Record<string, string> = {
  created: 'created',
  present: 'present',
  planned: 'planned',
  skipped: 'skipped',
  failed: 'FAILED',
  blocked: 'blocked',
};

export function renderBootstrapReport(report: BootstrapReport): string {
  const lines = [`bootstrap ${report.project}${report.dryRun ? ' (dry run: nothing changed)' : ''}`];
  for (const s of report.steps) {
    lines.push(`  ${s.step.padEnd(9)} ${LABEL[s.status]!.padEnd(8)} ${s.summary}`);
    if (s.error?.hint) lines.push(`  ${''.padEnd(9)} ${''.padEnd(8)} hint: ${s.error.hint}`);
  }
  const count = (status: string) => report.steps.filter((s) => s.status === status).length;
  if (!report.ok) {
    lines.push(
      `bootstrap stopped: ${report.steps.find((s) => s.status === 'failed')?.step} failed; fix it and run the same command again (finished steps are kept)`,
    );
  } else if (report.dryRun) {
    lines.push(
      count('planned') === 0
        ? 'nothing to do: everything is already present'
        : `run without --dry-run to apply ${count('planned')} step(s)`,
    );
  } else {
    lines.push(
      count('created') === 0
        ? 'nothing created: everything was already present'
        : `done: ${count('created')} step(s) created something, ${count('present')} already present`,
    );
  }
  return lines.join('\n');
}

function mb(bytes: number): string {
  return bytes < 1e6 ? `${bytes} B` : `${(bytes / 1e6).toFixed(1)} MB`;
}

export function renderModelUploadReport(report: ModelUploadReport): string {
  const verb = report.dryRun ? 'would upload' : 'uploaded';
  return [
    `s3://${report.bucket}/${report.prefix}: ${verb} ${report.uploadedFiles} file(s) (${mb(report.uploadedBytes)}), ${report.presentFiles} already present, ${report.files.length} in all (${mb(report.totalBytes)})`,
    `manifest ${report.manifestKey}: ${report.dryRun && report.manifest !== 'present' ? `would be ${report.manifest}` : report.manifest}`,
  ].join('\n');
}
