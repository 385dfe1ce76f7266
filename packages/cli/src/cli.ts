import { Argument, type Command } from 'commander';
import { completeWords, completionScript } from './commands/completion.ts';
import { LAZY_GROUPS, registerLazyGroups } from './commands/lazy-groups.ts';
import { addCoreCommands, baseProgram, runProgram } from './program.ts';
import { loadImplementation } from './ts-loader.ts';

/**
 * The `synkti` binary's entry: core commands are defined here and command groups are
 * stand-ins until used, so `synkti --help` starts fast (measured by tests/cli-package.test.ts).
 */
export async function run(argv: string[]): Promise<void> {
  // The AWS SDK warns on every command that its 2027 releases need Node 22; Synkti pins
  // SDK versions that run on 20, so `synkti doctor` says it once instead. A user's own
  // setting of the variable wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const program = addCoreCommands(baseProgram());
  registerLazyGroups(program, baseProgram, argv);
  addCompletion(program);
  await runProgram(program, argv);
}

function addCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh): source <(synkti completion bash)')
    .addArgument(new Argument('[shell]', 'bash or zsh').choices(['bash', 'zsh']).default('bash'))
    .action((shell: 'bash' | 'zsh') => {
      process.stdout.write(completionScript(shell));
    });
  program
    .command('__complete', { hidden: true })
    .argument('[words...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (words: string[]) => {
      // Completing inside a command group: load its real commands first.
      const group = LAZY_GROUPS.find((g) => words.length > 1 && words[0]! in g.commands);
      let tree = program;
      if (group) {
        tree = addCoreCommands(baseProgram());
        (await loadImplementation(group.load))(tree);
      }
      const candidates = completeWords(tree, words.length === 0 ? [''] : words);
      if (candidates.length > 0) process.stdout.write(`${candidates.join('\n')}\n`);
    });
}
