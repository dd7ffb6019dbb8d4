/**
 * Where a command's lines go: the libraries behind `tasks/*.ts` print through these, so the task stays a thin CLI
 * and a test can capture what it would print.
 *
 * @module
 */

/** Line sinks of a command run as a library. */
export interface CommandOutput {
  /** Results and summaries (default stdout). */
  print?: (line: string) => void;
  /** Notes, warnings and progress messages (default stderr). */
  log?: (line: string) => void;
}

/**
 * The sinks with their defaults filled in.
 *
 * @example
 * ```ts
 * import { commandOutput } from "./output.ts";
 * const lines: string[] = [];
 * const { print, log } = commandOutput({ print: (l) => lines.push(l) });
 * print("done"); // into lines; log(…) goes to stderr
 * ```
 */
export function commandOutput(o: CommandOutput): Required<CommandOutput> {
  return { print: o.print ?? ((l) => console.log(l)), log: o.log ?? ((l) => console.error(l)) };
}
