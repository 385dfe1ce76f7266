import { InvalidArgumentError, type Command } from 'commander';
import { durationOption, nonNegativeNumber, positiveNumber, wholeNumberOption } from '../option-parsers.ts';
import { POLICY_NAMES } from '@synkti/sim';
import { runSimCommand, type SimCommandOptions } from '../sim/sim-run.ts';

const simDuration = durationOption({ examples: '"183s", "5 minutes" or "10d"' });

function policyOption(value: string): string {
  if (value === 'all') return value;
  for (const name of value.split(',').map((s) => s.trim())) {
    if (!(POLICY_NAMES as readonly string[]).includes(name)) throw new InvalidArgumentError(`unknown policy "${name}": expected all, or a comma-separated list of ${POLICY_NAMES.join(', ')}`);
  }
  return value;
}

/** Adds `synkti sim`: policies replayed on real spot traces, paired, with honest billing. */
export function registerSimCommand(program: Command): void {
  program.command('sim')
    .description('replay spot traces and compare fleet policies (paired: same traces, same seed): cost, availability, failed requests')
    .option('--traces <dir>', 'directory of <zone>.json traces (default: the shipped 6-zone V100 traces, 45 days)')
    .option('-n, --replicas <count>', 'ready replicas the service needs (batch: workers)', wholeNumberOption(1, 1000), 4)
    .option('-p, --policy <name>', `all, or a comma-separated list of: ${POLICY_NAMES.join(', ')}`, policyOption, 'all')
    .option('--days <days>', 'days to simulate (default: the whole trace)', positiveNumber)
    .option('--seed <seed>', 'seed for arrivals and service times', wholeNumberOption(0, 2 ** 32 - 1), 1)
    .option('--launch-delay <duration>', 'provision + model load of a new instance (183 s published for a 7B model)', simDuration)
    .option('--rebalance-lead <duration>', 'rebalance recommendation this long before each notice (the traces have none)', simDuration, 0)
    .option('--rps <n>', 'mean requests per second to the service', nonNegativeNumber, 0.2)
    .option('--arrivals <pattern>', 'poisson or bursty', (v: string) => {
      if (v !== 'poisson' && v !== 'bursty') throw new InvalidArgumentError('expected poisson or bursty');
      return v;
    }, 'poisson')
    .option('--zone <zone>', 'zone of the single-zone policies (default: the first zone)')
    .option('--prices <file>', 'price table JSON (default: the shipped p3.2xlarge table; see its sources)')
    .option('--spare <count>', 'synkti policies: replicas beyond --replicas', wholeNumberOption(0, 100), 0)
    .option('--route-to-draining', 'synkti policies: when no replica is ready, route to draining ones until they die (not in the agent yet)', false)
    .option('--workload <kind>', 'serve, or batch (a job of tasks with a deadline)', (v: string) => {
      if (v !== 'serve' && v !== 'batch') throw new InvalidArgumentError('expected serve or batch');
      return v;
    }, 'serve')
    .option('--tasks <count>', 'batch: tasks in the job (default: half the run of work)', wholeNumberOption(1, 10_000_000))
    .option('--task-duration <duration>', 'batch: one task on one worker', simDuration)
    .option('--deadline <duration>', 'batch: deadline from the start (default: 80% of the run)', simDuration)
    .option('--chart <file.svg>', 'write an SVG chart of replicas over time per policy')
    .option('--json', 'one JSON line per policy', false)
    .action(async (raw: Record<string, unknown>) => {
      const options: SimCommandOptions = {
        traces: raw.traces as string | undefined,
        replicas: raw.replicas as number,
        policy: raw.policy as string,
        days: raw.days as number | undefined,
        seed: raw.seed as number,
        launchDelayMs: raw.launchDelay as number | undefined,
        rebalanceLeadMs: raw.rebalanceLead as number,
        rps: raw.rps as number,
        arrivals: raw.arrivals as 'poisson' | 'bursty',
        zone: raw.zone as string | undefined,
        prices: raw.prices as string | undefined,
        spare: raw.spare as number,
        routeToDraining: raw.routeToDraining === true,
        workload: raw.workload as 'serve' | 'batch',
        tasks: raw.tasks as number | undefined,
        taskMs: raw.taskDuration as number | undefined,
        deadlineMs: raw.deadline as number | undefined,
        chart: raw.chart as string | undefined,
        json: raw.json === true,
      };
      const { text } = await runSimCommand(options);
      console.log(text);
    });
}
