// `systemctl` on an emulated instance (plain JavaScript: it runs under the host's node
// with no loader, at every call the boot script makes).
//
//   systemctl daemon-reload                  no-op
//   systemctl enable [--now] <unit>          with --now (or `start`): runs the unit
//   systemctl start|stop|restart|is-active <unit>
//
// Running a unit: read $SYNKTI_ROOT/etc/systemd/system/<unit>.service, create its
// RuntimeDirectory/StateDirectory/LogsDirectory under the root, run each ExecStartPre then
// ExecStart with the unit's Environment= lines, absolute paths under the Synkti prefixes
// moved into the root, on top of the machine's emulated environment (AWS endpoint,
// metadata endpoint, region: those win over the unit's, which name the real EC2 ones),
// and restart on failure after RestartSec when Restart=on-failure. User= cannot be
// honoured without host users: the service runs as the emulator's user (logged).
// The service's output goes to the machine's service.log.
//
// Stopping (systemctl stop, or the emulator's shutdown of a terminated instance): the
// runner gets SIGTERM, passes it to the unit's main process and SIGKILLs that process
// after TimeoutStopSec (as KillMode=mixed does); the runner then exits without restarting.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const MAPPED_PREFIXES = ['/opt/synkti', '/etc/synkti', '/var/lib/synkti', '/var/log/synkti', '/run/synkti', '/etc/systemd/system'];

function die(message, code = 1) {
  process.stderr.write(`systemctl (synkti emulator): ${message}\n`);
  process.exit(code);
}

const machineFile = process.env.SYNKTI_EMULATOR_MACHINE_FILE;
if (!machineFile) die('SYNKTI_EMULATOR_MACHINE_FILE is not set: this shim runs only inside an emulated instance');
/** @type {{ root: string, serviceLog: string, env: Record<string, string> }} */
const machine = JSON.parse(readFileSync(machineFile, 'utf8'));
const root = machine.root;

function mapPath(value) {
  for (const prefix of MAPPED_PREFIXES) {
    if (value === prefix || value.startsWith(`${prefix}/`)) return root + value;
  }
  return value;
}

/** Environment= values: `"K=V"` or `K=V`, several per line. */
function parseEnvironment(text, into) {
  const re = /"([^"]*)"|(\S+)/g;
  let m;
  while ((m = re.exec(text))) {
    const item = m[1] ?? m[2];
    const eq = item.indexOf('=');
    if (eq > 0) into[item.slice(0, eq)] = mapPath(item.slice(eq + 1));
  }
}

/** A command line: words split on blanks, double quotes group; the systemd prefixes (-, @, +, !) stripped. */
function parseCommand(text) {
  let line = text.trim();
  let ignoreFailure = false;
  while (/^[-@+!:]/.test(line)) {
    if (line[0] === '-') ignoreFailure = true;
    line = line.slice(1);
  }
  const words = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m;
  while ((m = re.exec(line))) words.push(mapPath(m[1] ?? m[2]));
  return { words, ignoreFailure };
}

function readUnit(name) {
  const unitName = name.endsWith('.service') ? name : `${name}.service`;
  if (!/^[A-Za-z0-9@._-]+$/.test(unitName)) die(`bad unit name ${JSON.stringify(name)}`);
  const file = join(root, 'etc/systemd/system', unitName);
  if (!existsSync(file)) die(`Unit ${unitName} not found (looked for ${file}).`, 5);
  const unit = {
    name: unitName,
    env: {},
    pre: [],
    start: undefined,
    restart: 'no',
    restartSec: 0.1,
    workingDirectory: undefined,
    user: undefined,
    stopTimeoutSec: 90,
    dirs: {},
  };
  let section = '';
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      section = line;
      continue;
    }
    if (section !== '[Service]') continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    switch (key) {
      case 'Environment':
        parseEnvironment(value, unit.env);
        break;
      case 'ExecStartPre':
        unit.pre.push(parseCommand(value));
        break;
      case 'ExecStart':
        unit.start = parseCommand(value);
        break;
      case 'Restart':
        unit.restart = value;
        break;
      case 'RestartSec':
        unit.restartSec = Math.max(0.1, Number.parseFloat(value) || 0.1);
        break;
      case 'TimeoutStopSec':
        unit.stopTimeoutSec = Math.max(1, Number.parseFloat(value) || 90);
        break;
      case 'WorkingDirectory':
        unit.workingDirectory = mapPath(value.replace(/^-/, ''));
        break;
      case 'User':
        unit.user = value;
        break;
      case 'RuntimeDirectory':
        unit.dirs.RUNTIME_DIRECTORY = join(root, 'run', value);
        break;
      case 'StateDirectory':
        unit.dirs.STATE_DIRECTORY = join(root, 'var/lib', value);
        break;
      case 'LogsDirectory':
        unit.dirs.LOGS_DIRECTORY = join(root, 'var/log', value);
        break;
      default:
        break;
    }
  }
  if (!unit.start) die(`${unitName} has no ExecStart=`);
  return unit;
}

const pidFile = (unit) => join(root, 'run/systemd-shim', `${unit}.pid`);
const stopTimeoutFile = (unit) => join(root, 'run/systemd-shim', `${unit}.timeout-stop-sec`);

function runningPid(unit) {
  try {
    const pid = Number(readFileSync(pidFile(unit), 'utf8'));
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Starts the runner (this script with `__run`) in the background, in this machine's process group. */
function start(name) {
  const unit = readUnit(name);
  if (runningPid(unit.name)) return;
  mkdirSync(dirname(machine.serviceLog), { recursive: true });
  const log = openSync(machine.serviceLog, 'a');
  const child = spawn(process.execPath, [process.argv[1], '__run', unit.name], { stdio: ['ignore', log, log], env: process.env });
  closeSync(log);
  mkdirSync(dirname(pidFile(unit.name)), { recursive: true });
  writeFileSync(pidFile(unit.name), String(child.pid));
  // What the emulator's shutdown waits for this unit (TimeoutStopSec, then SIGKILL).
  writeFileSync(stopTimeoutFile(unit.name), String(unit.stopTimeoutSec));
  child.unref();
}

function stop(name) {
  const unitName = name.endsWith('.service') ? name : `${name}.service`;
  const pid = runningPid(unitName);
  if (!pid) return Promise.resolve();
  process.kill(pid, 'SIGTERM');
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (!runningPid(unitName)) {
        clearInterval(poll);
        resolve();
      }
    }, 100);
  });
}

/** The runner: runs the unit until it stops (or forever, restarting on failure). */
async function runUnit(name) {
  const unit = readUnit(name);
  const say = (text) => writeSync(1, `systemd-shim: ${unit.name}: ${text}\n`);
  for (const dir of Object.values(unit.dirs)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (unit.user) say(`User=${unit.user} is not honoured by the emulator: running as uid ${process.getuid?.()}`);
  const env = { ...unit.env, ...unit.dirs, ...machine.env };
  let current;
  let stopping = false;
  process.on('SIGTERM', () => {
    stopping = true;
    if (!current) {
      rmSync(pidFile(unit.name), { force: true });
      rmSync(stopTimeoutFile(unit.name), { force: true });
      process.exit(0);
    }
    current.kill('SIGTERM');
    setTimeout(() => current?.kill('SIGKILL'), unit.stopTimeoutSec * 1000).unref();
  });
  const run = (command) =>
    new Promise((resolve) => {
      const [program, ...args] = command.words;
      const child = spawn(program, args, {
        stdio: ['ignore', 'inherit', 'inherit'],
        env,
        cwd: unit.workingDirectory && existsSync(unit.workingDirectory) ? unit.workingDirectory : root,
      });
      current = child;
      child.on('error', (error) => {
        say(`cannot run ${program}: ${error.message}`);
        current = undefined;
        resolve(203);
      });
      child.on('exit', (code, signal) => {
        current = undefined;
        resolve(code ?? (signal ? 128 : 1));
      });
    });
  for (let attempt = 1; ; attempt++) {
    let failed = false;
    for (const pre of unit.pre) {
      const code = await run(pre);
      if (code !== 0 && !pre.ignoreFailure) {
        say(`ExecStartPre ${basename(pre.words[0])} exited with ${code}`);
        failed = true;
        break;
      }
    }
    if (!failed && !stopping) {
      say(`started (attempt ${attempt}): ${unit.start.words.join(' ')}`);
      const code = await run(unit.start);
      say(`main process exited with ${code}`);
      failed = code !== 0;
    }
    if (stopping || !failed || !['on-failure', 'always', 'on-abnormal'].includes(unit.restart)) break;
    say(`restarting in ${unit.restartSec}s (Restart=${unit.restart})`);
    await new Promise((resolve) => setTimeout(resolve, unit.restartSec * 1000));
    if (stopping) break;
  }
  rmSync(pidFile(unit.name), { force: true });
  rmSync(stopTimeoutFile(unit.name), { force: true });
}

const [command, ...rest] = process.argv.slice(2);
const units = rest.filter((a) => !a.startsWith('-'));
switch (command) {
  case '__run':
    await runUnit(units[0]);
    break;
  case 'daemon-reload':
    break;
  case 'enable':
    if (rest.includes('--now')) for (const u of units) start(u);
    break;
  case 'start':
    for (const u of units) start(u);
    break;
  case 'stop':
    for (const u of units) await stop(u);
    break;
  case 'restart':
    for (const u of units) {
      await stop(u);
      start(u);
    }
    break;
  case 'is-active':
    process.exit(units.every((u) => runningPid(u.endsWith('.service') ? u : `${u}.service`)) ? 0 : 3);
    break;
  default:
    die(`"${command ?? ''}" is not emulated (daemon-reload, enable [--now], start, stop, restart, is-active)`);
}
