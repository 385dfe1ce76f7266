/**
 * `synkti doctor` checks for provider 'local': the state directory can be written, and
 * no instance is still recorded as running after its host process died (the registry
 * repairs itself on the next command that lists instances; doctor only reads it).
 */
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fail, ok, warn, type Finding } from './doctor-finding.ts';

/** The registry file of the local cloud (packages/cloud/src/providers/local/registry.ts). */
const REGISTRY_FILE = 'registry.db';

interface ActiveRow {
  id: string;
  state: string;
  hostPid: number | null;
  hostStartTime: number | null;
}

function nearestExisting(path: string): string {
  let dir = path;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

function stateDirFinding(stateDir: string): Finding {
  const target = existsSync(stateDir) ? stateDir : nearestExisting(stateDir);
  try {
    accessSync(target, constants.W_OK);
    // access() can say yes on a read-only mount: really write something.
    rmSync(mkdtempSync(join(target, '.synkti-doctor-')), { recursive: true, force: true });
  } catch (error) {
    return fail(
      'state-dir',
      `${stateDir} is not writable (${target}: ${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      `make ${target} writable by this user (chown/chmod), or set SYNKTI_STATE_DIR to a writable directory`,
    );
  }
  return ok('state-dir', existsSync(stateDir) ? `${stateDir} is writable` : `${stateDir} will be created (${target} is writable)`);
}

/** Linux /proc start time of `pid` (field 22), undefined when it does not run. */
function startTimeOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

function hostAlive(pid: number, startTime: number | null): boolean {
  if (existsSync('/proc/self/stat')) {
    const started = startTimeOf(pid);
    return started !== undefined && (startTime === null || started === startTime);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function staleFinding(stateDir: string): Promise<Finding> {
  const file = join(stateDir, REGISTRY_FILE);
  if (!existsSync(file)) return ok('stale-instances', 'no local instances yet');
  let rows: ActiveRow[];
  try {
    const { default: Database } = await import('libsql');
    const db = new Database(file, { readonly: true });
    try {
      rows = db
        .prepare(
          `SELECT id, state, host_pid AS hostPid, host_start_time AS hostStartTime FROM instances
        WHERE state IN ('pending', 'running', 'shutting-down') AND host_pid IS NOT NULL`,
        )
        .all([]) as ActiveRow[];
    } finally {
      db.close();
    }
  } catch (error) {
    return warn(
      'stale-instances',
      `cannot read ${file}: ${(error as Error).message}`,
      'if no fleet is running, remove the state directory; otherwise run `synkti status`',
    );
  }
  const stale = rows.filter((r) => !hostAlive(Number(r.hostPid), r.hostStartTime === null ? null : Number(r.hostStartTime)));
  if (stale.length === 0) return ok('stale-instances', `${rows.length} recorded instance(s), every host alive`);
  return warn(
    'stale-instances',
    `${stale.length} instance(s) recorded as ${[...new Set(stale.map((r) => r.state))].join('/')} whose host process is gone: ${stale.map((r) => `${r.id} (pid ${r.hostPid})`).join(', ')}`,
    'run `synkti status` (listing marks them terminated as crashed), then `synkti up` to replace them',
  );
}

export async function localFindings(stateDir: string): Promise<Finding[]> {
  return [stateDirFinding(stateDir), await staleFinding(stateDir)];
}
