/**
 * Pipelines benchmark: tasks/s claimed and completed through Synkti's PostgreSQL task
 * database at 1, 4 and 16 agents, against pg-boss 10 (a PostgreSQL job queue that also
 * claims with SKIP LOCKED) on the same private PostgreSQL server, in the same run.
 *
 *   npm run bench -- pipelines [--tasks 2000] [--agents 1,4,16] [--rounds 1]
 *
 * Workload: `--tasks` independent tasks (Synkti: jobs of 10 tasks each; pg-boss: one queue
 * of jobs with the same 10-byte payload) are stored first (not timed); then N agents
 * each loop claim one → complete it, until none is left. Each agent has its own database
 * connection (Synkti: its own handle with a 1-connection pool; pg-boss: one instance
 * with an N-connection pool and N loops). All clients run in this one Node process, so on
 * a small machine the client CPU is part of what is measured, for both alike.
 * Prints a table, then one JSON line {"bench":"pipelines",...}.
 */
import PgBoss from 'pg-boss';
import { startTestPostgres } from '../scripts/test-services/postgres.ts';
import { openPostgresTaskDatabase, type TaskDatabase } from '../packages/tasks/src/pipelines/index.ts';
import { numberArg, parseArgs } from './lib/args.ts';
import { round, table } from './lib/stats.ts';

const HELP = `usage: npm run bench -- pipelines [options]

Synkti's PostgreSQL task database vs pg-boss 10: tasks/s claimed and completed.
  --tasks N      tasks per measured run (default 2000)
  --agents LIST  agent counts (default 1,4,16)
  --rounds N     rounds; each runs both at every agent count, alternating order (default 1)
Prints a table, then one JSON line {"bench":"pipelines",...}.`;

const log = (line: string): void => console.error(line);

async function synktiRun(url: string, prefix: string, tasks: number, agents: number): Promise<number> {
  const setup = await openPostgresTaskDatabase({ connectionString: url, poolSize: 4, tablePrefix: prefix });
  const handles: TaskDatabase[] = [];
  try {
    for (let j = 0; j < tasks / 10; j += 1) {
      await setup.createJob({
        pipeline: 'bench',
        tasks: Array.from({ length: 10 }, (_, i) => ({ key: `t${i}`, type: 'bench.noop', input: 'payload-10' })),
      });
    }
    for (let i = 0; i < agents; i += 1)
      handles.push(await openPostgresTaskDatabase({ connectionString: url, poolSize: 1, tablePrefix: prefix }));
    let done = 0;
    const started = performance.now();
    await Promise.all(
      handles.map(async (db, i) => {
        for (;;) {
          const [task] = await db.claim({ agentId: `a${i}`, types: ['bench.noop'] });
          if (!task) return;
          const outcome = await db.complete({ taskId: task.id, claim: task.claim, agentId: `a${i}`, result: 'ok' });
          if (outcome === 'done') done += 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (done !== tasks) throw new Error(`synkti completed ${done} of ${tasks}`);
    return done / seconds;
  } finally {
    for (const h of handles) await h.close();
    await setup.close();
  }
}

async function pgBossRun(url: string, queue: string, tasks: number, agents: number): Promise<number> {
  const boss = new PgBoss({ connectionString: url, max: agents + 2, schedule: false, supervise: false });
  let stopping = false;
  boss.on('error', (e: unknown) => {
    if (!stopping) log(`pg-boss: ${String(e)}`);
  });
  await boss.start();
  try {
    await boss.createQueue(queue);
    for (let i = 0; i < tasks; i += 500) {
      await boss.insert(Array.from({ length: Math.min(500, tasks - i) }, () => ({ name: queue, data: { p: 'payload-10' } })));
    }
    let done = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: agents }, async () => {
        for (;;) {
          const [job] = await boss.fetch<{ p: string }>(queue, { batchSize: 1 });
          if (!job) return;
          await boss.complete(queue, job.id, { r: 'ok' });
          done += 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (done !== tasks) throw new Error(`pg-boss completed ${done} of ${tasks}`);
    return done / seconds;
  } finally {
    stopping = true;
    await boss.stop({ graceful: false, wait: true });
  }
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const tasks = Math.max(10, Math.round(numberArg(args, 'tasks', 2000) / 10) * 10);
  const rounds = Math.round(numberArg(args, 'rounds', 1));
  const agentCounts = (args.get('agents') ?? '1,4,16')
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  log(`starting a private PostgreSQL server...`);
  const pg = await startTestPostgres();
  const results: Array<{ agents: number; synkti: number[]; pgboss: number[] }> = agentCounts.map((agents) => ({
    agents,
    synkti: [],
    pgboss: [],
  }));
  let serial = 0;
  try {
    for (let r = 0; r < rounds; r += 1) {
      for (const entry of results) {
        const order = (r + entry.agents) % 2 === 0 ? (['synkti', 'pgboss'] as const) : (['pgboss', 'synkti'] as const);
        for (const who of order) {
          serial += 1;
          const rate =
            who === 'synkti'
              ? await synktiRun(pg.url, `bench${serial}`, tasks, entry.agents)
              : await pgBossRun(pg.url, `bench-${serial}`, tasks, entry.agents);
          entry[who].push(rate);
          log(`round ${r + 1}, ${entry.agents} agent(s), ${who}: ${round(rate, 0)} tasks/s`);
        }
      }
    }
  } finally {
    await pg.stop();
  }
  const best = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rows = results.map((e) => ({
    agents: e.agents,
    synkti: round(best(e.synkti), 0),
    pgboss: round(best(e.pgboss), 0),
    ratio: round(best(e.synkti) / best(e.pgboss), 2),
  }));
  console.log(
    table([
      ['agents', 'synkti tasks/s', 'pg-boss tasks/s', 'synkti / pg-boss'],
      ...rows.map((r) => [String(r.agents), String(r.synkti), String(r.pgboss), String(r.ratio)]),
    ]),
  );
  console.log(
    JSON.stringify({
      bench: 'pipelines',
      tasks,
      rounds,
      unit: 'tasks/s claimed+completed (mean over rounds)',
      peer: 'pg-boss@10.4.2',
      results: rows,
    }),
  );
}
