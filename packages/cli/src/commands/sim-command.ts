import { InvalidArgumentError, type Command } from 'commander';
import { durationOption, nonNegativeNumber, positiveNumber, wholeNumberOption } from '../option-parsers.ts';
import { POLICY_NAMES, parseLaunchDelay, type LaunchDelay } from '@synkti/sim';
import { isSynktiError } from '@synkti/core';
import { runSimCommand, type SimCommandOptions } from '../sim/sim-run.ts';

const simDuration = durationOption({ examples: '"183s", "5 minutes" or "10d"' });

function policyOption(value: string): string {
  if (value === 'all') return value;
  for (const name of value.split(',').map((s) => s.trim())) {
    if (!(POLICY_NAMES as readonly string[]).includes(name))
      throw new InvalidArgumentError(`unknown policy "${name}": expected all, or a comma-separated list of ${POLICY_NAMES.join(', ')}`);
  }
  return value;
}

/** `--launch-delay 183s`, `lognormal:183s,0.5` or `uniform:60s-600s`. */
function launchDelayOption(value: string): LaunchDelay {
  try {
    return parseLaunchDelay(value);
  } catch (error) {
    throw new InvalidArgumentError(isSynktiError(error) ? `${error.message}; ${error.hint ?? ''}`.trim() : String(error));
  }
}

/** `--hedge-objective 0.995`: a share of time, as the config's spotHedge.availabilityObjective takes it. */
function hedgeObjectiveOption(value: string): number {
  const n = Number(value);
  if (!(n >= 0.5 && n <= 0.99999))
    throw new InvalidArgumentError(
      `"${value}" is not an availability objective between 0.5 and 0.99999 (e.g. 0.99: every replica ready 99 % of the time)`,
    );
  return n;
}

/** `--hedge-price-ratio 0.3`: spot / on-demand, strictly between 0 and 1. */
function priceRatioOption(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`"${value}" is not a spot / on-demand price ratio between 0 and 1 (e.g. 0.3)`);
  return n;
}

/** `--zones a,b,c`: non-empty, no repeats (whether each has a trace is checked once the traces are read). */
function zonesOption(value: string): string[] {
  const zones = value
    .split(',')
    .map((z) => z.trim())
    .filter(Boolean);
  if (zones.length === 0) throw new InvalidArgumentError('expected a comma-separated list of zones, e.g. us-east-2a,us-west-2a,us-west-2b');
  if (new Set(zones).size !== zones.length) throw new InvalidArgumentError(`a zone is listed twice in "${value}"`);
  return zones;
}

/** Adds `synkti sim`: policies replayed on real spot traces, paired, with honest billing. */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('replay spot traces and compare fleet policies (paired: same traces, same seed): cost, availability, failed requests')
    .option('--traces <dir>', 'directory of <zone>.json traces (default: the shipped 6-zone V100 traces, 45 days)')
    .option('-n, --replicas <count>', 'ready replicas the service needs (batch: workers)', wholeNumberOption(1, 1000), 4)
    .option('-p, --policy <name>', `all, or a comma-separated list of: ${POLICY_NAMES.join(', ')}`, policyOption, 'all')
    .option('--days <days>', 'days to simulate (default: the whole trace)', positiveNumber)
    .option('--seed <seed>', 'seed for arrivals and service times', wholeNumberOption(0, 2 ** 32 - 1), 1)
    .option(
      '--launch-delay <delay>',
      'provision + model load of each new instance: a duration (default 183s, published for a 7B model), lognormal:<median>,<sigma> (e.g. lognormal:183s,0.5) or uniform:<min>-<max> (e.g. uniform:60s-600s)',
      launchDelayOption,
    )
    .option('--zones <list>', 'only these zones of the traces, comma-separated (e.g. us-east-2a,us-west-2a,us-west-2b)', zonesOption)
    .option(
      '--capacity-cap <count>',
      'spot instances one zone holds while its availability trace reads available (default: unlimited; preemption traces are counts already)',
      wholeNumberOption(0, 100_000),
    )
    .option(
      '--on-demand-capacity <count>',
      'on-demand instances that can run at once (a short region or a quota; default: unlimited); launches beyond it fail',
      wholeNumberOption(0, 100_000),
    )
    .option(
      '--spot-prices <file>',
      'spot prices per zone over time: the JSON of aws ec2 describe-spot-price-history (USD per instance-hour; simulated time 0 = its earliest Timestamp); e.g. packages/sim/data/spot-prices-p3.2xlarge-sample.json (synthesized)',
    )
    .option(
      '--config <file>',
      "a cluster config: the synkti policies use its spot pool's spotHedge settings (the agent reads the same block)",
    )
    .option('--pool <role>', 'with --config: the pool whose spotHedge to use (default: the only spot pool)')
    .option(
      '--hedge-objective <p>',
      "synkti policies: the spot hedge's availability objective, 0.5-0.99999 (default 0.99; over --config)",
      hedgeObjectiveOption,
    )
    .option(
      '--hedge-launch-delay <duration>',
      'synkti policies: the launch delay the hedge assumes (default: the simulated one; over --config)',
      simDuration,
    )
    .option(
      '--hedge-price-ratio <r>',
      "synkti policies: the spot / on-demand ratio the hedge assumes, between 0 and 1 (default: the simulated prices'; over --config)",
      priceRatioOption,
    )
    .option('--no-hedge', 'synkti policies: no spot hedge (spot whenever there is capacity: the agent before the hedge)')
    .option(
      '--spread-moves',
      "synkti policies: move replicas out of a zone holding more than ceil(N/zones) (the agent's spreadMoveStep; off by default)",
      false,
    )
    .option(
      '--sweep',
      'sensitivity instead of one run: spot price 30-70 % of on-demand x replicas 2/4/8 x launch delay 60/183/600 s x every subset of >= 3 zones; prints a table (--chart writes an SVG); minutes, progress on stderr',
      false,
    )
    .option('--rebalance-lead <duration>', 'rebalance recommendation this long before each notice (the traces have none)', simDuration, 0)
    .option('--rps <n>', 'mean requests per second to the service', nonNegativeNumber, 0.2)
    .option(
      '--arrivals <pattern>',
      'poisson or bursty',
      (v: string) => {
        if (v !== 'poisson' && v !== 'bursty') throw new InvalidArgumentError('expected poisson or bursty');
        return v;
      },
      'poisson',
    )
    .option('--zone <zone>', 'zone of the single-zone policies (default: the first zone)')
    .option('--prices <file>', 'price table JSON (default: the shipped p3.2xlarge table; see its sources)')
    .option('--spare <count>', 'synkti policies: replicas beyond --replicas', wholeNumberOption(0, 100), 0)
    .option(
      '--route-to-draining',
      'synkti policies: when no replica is ready, route to draining ones until they die (not in the agent yet)',
      false,
    )
    .option(
      '--workload <kind>',
      'serve, or batch (a job of tasks with a deadline)',
      (v: string) => {
        if (v !== 'serve' && v !== 'batch') throw new InvalidArgumentError('expected serve or batch');
        return v;
      },
      'serve',
    )
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
        launchDelay: raw.launchDelay as LaunchDelay | undefined,
        zones: raw.zones as string[] | undefined,
        capacityCap: raw.capacityCap as number | undefined,
        onDemandCapacity: raw.onDemandCapacity as number | undefined,
        spotPrices: raw.spotPrices as string | undefined,
        spreadMoves: raw.spreadMoves === true,
        config: raw.config as string | undefined,
        pool: raw.pool as string | undefined,
        hedge: {
          enabled: raw.hedge === false ? false : undefined,
          availabilityObjective: raw.hedgeObjective as number | undefined,
          launchDelayMs: raw.hedgeLaunchDelay as number | undefined,
          priceRatio: raw.hedgePriceRatio as number | undefined,
        },
        sweep: raw.sweep === true,
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
