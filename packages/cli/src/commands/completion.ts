import type { Command } from 'commander';

/**
 * Shell completion. The script the user installs asks `synkti __complete` for candidates
 * on every <Tab>, so completions follow the installed version (command groups included,
 * loaded on demand) instead of a list frozen at install time.
 */
export function completionScript(shell: 'bash' | 'zsh'): string {
  const bash = [
    '# synkti completion for bash: add to ~/.bashrc',
    '#   source <(synkti completion bash)',
    '_synkti_complete() {',
    "  local IFS=$'\\n'",
    '  COMPREPLY=($(synkti __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))',
    '}',
    'complete -o default -F _synkti_complete synkti',
  ];
  if (shell === 'bash') return `${bash.join('\n')}\n`;
  return (
    [
      '# synkti completion for zsh: add to ~/.zshrc',
      '#   source <(synkti completion zsh)',
      'autoload -U +X bashcompinit && bashcompinit',
      ...bash.slice(2),
    ].join('\n') + '\n'
  );
}

/** Candidates for the last word of `words` (the words after `synkti`), one per line. */
export function completeWords(program: Command, words: readonly string[]): string[] {
  const prefix = words.at(-1) ?? '';
  let command = program;
  for (const word of words.slice(0, -1)) {
    if (word.startsWith('-')) continue;
    const next = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) break;
    command = next;
  }
  const candidates = prefix.startsWith('-')
    ? command.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => typeof f === 'string')
    : command.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden).map((c) => c.name());
  return [...new Set(candidates)].filter((c) => c.startsWith(prefix)).sort();
}
