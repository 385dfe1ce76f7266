/** Terminal output helpers: tables for people, progress on stderr only when it is a terminal. */

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export interface Progress {
  update(text: string): void;
  done(text?: string): void;
}

/**
 * A one-line progress display that rewrites itself on a terminal and prints a line
 * every few seconds otherwise (CI logs stay short but show life).
 */
export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  const tty = stream.isTTY === true;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let frame = 0;
  let last = '';
  let lastPrintedAt = 0;
  return {
    update(text: string) {
      if (quiet) return;
      if (tty) {
        stream.write(`\r\x1b[2K${frames[frame++ % frames.length]} ${text}`);
      } else if (text !== last && Date.now() - lastPrintedAt > 2000) {
        stream.write(`${text}\n`);
        lastPrintedAt = Date.now();
      }
      last = text;
    },
    done(text?: string) {
      if (quiet) return;
      if (tty) stream.write('\r\x1b[2K');
      if (text) stream.write(`${text}\n`);
    },
  };
}

/** A whole duration the way a user types it: 2m, 30s, 1h, 500ms (what parseDuration reads back). */
export function durationText(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms > 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * Help shows duration defaults as durations (`(default: 2m)`, not `(default: 120000)`):
 * every option taking a `<duration>` with a number default, in `program` and its subcommands.
 */
export function describeDurationDefaults(program: {
  options: readonly { flags: string; defaultValue?: unknown; defaultValueDescription?: string | undefined }[];
  commands: readonly unknown[];
}): void {
  for (const option of program.options) {
    if (
      /<duration>|\[duration\]/.test(option.flags) &&
      typeof option.defaultValue === 'number' &&
      option.defaultValueDescription === undefined
    ) {
      option.defaultValueDescription = durationText(option.defaultValue);
    }
  }
  for (const sub of program.commands) describeDurationDefaults(sub as Parameters<typeof describeDurationDefaults>[0]);
}

/** One node as progress shows it: its id and a one-word state (launching, booting, joined, ready, draining, terminated...). */
export interface NodeProgressEntry {
  id: string;
  state: string;
}

export interface NodeProgress {
  /**
   * The nodes as seen now: prints a line for each node whose state changed since the last
   * call (`i-0abc: booting → ready`), and on a terminal keeps `summary` as a live last line.
   */
  observe(nodes: readonly NodeProgressEntry[], summary: string): void;
  /** Clears the live line and prints `text`. */
  done(text?: string): void;
}

/**
 * Progress of a fleet change (up, scale, down): a line per node state change, on any
 * stream (so CI logs say what happened, and never a count before it is true), plus a live
 * summary line rewritten in place when the stream is a terminal.
 */
export function createNodeProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): NodeProgress {
  const tty = stream.isTTY === true;
  const seen = new Map<string, string>();
  let live = '';
  const clearLive = (): void => {
    if (tty && live) stream.write('\r\x1b[2K');
  };
  return {
    observe(nodes, summary) {
      if (quiet) return;
      const changes: string[] = [];
      for (const node of nodes) {
        const before = seen.get(node.id);
        if (before === node.state) continue;
        seen.set(node.id, node.state);
        changes.push(before === undefined ? `${node.id}: ${node.state}` : `${node.id}: ${before} → ${node.state}`);
      }
      if (changes.length > 0) {
        clearLive();
        stream.write(`${changes.join('\n')}\n`);
        live = '';
      }
      if (tty && summary !== live) {
        stream.write(`\r\x1b[2K${summary}`);
        live = summary;
      }
    },
    done(text) {
      if (quiet) return;
      clearLive();
      live = '';
      if (text) stream.write(`${text}\n`);
    },
  };
}
