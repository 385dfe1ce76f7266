/**
 * Benchmark dispatcher: `npm run bench -- <name> [args]` runs `bench/<name>.ts`.
 * A benchmark module exports `main(args: string[]): Promise<void>`; a module without `main`
 * is run for its side effects, with its arguments in process.argv.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function benchNames(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts') && f !== 'run.ts')
    .map((f) => f.slice(0, -3))
    .sort();
}

function usage(): string {
  return [
    'usage: npm run bench -- <name> [args]     (each benchmark takes --help)',
    '',
    'benchmarks:',
    ...benchNames().map((n) => `  ${n}`),
  ].join('\n');
}

const [name, ...args] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  console.log(usage());
  process.exit(name === undefined ? 1 : 0);
}
if (!benchNames().includes(name)) {
  console.error(`unknown benchmark "${name}"\n\n${usage()}`);
  process.exit(1);
}
process.argv = [process.argv[0]!, join(here, `${name}.ts`), ...args];
const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { main?: (args: string[]) => Promise<void> };
if (typeof mod.main === 'function') {
  try {
    await mod.main(args);
  } catch (error) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  }
  // A benchmark must not hang on a stray handle once it has reported.
  process.exit(process.exitCode ?? 0);
}
