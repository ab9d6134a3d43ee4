// How the CLI prints: on a terminal, tables (cli-table3) and progress bars with an ETA
// (cli-progress, on stderr, shown once work has taken over a second); in a pipe, plain
// tab-separated lines with no decoration; with --json, JSON for machines. Results go to stdout,
// messages and progress to stderr, so a pipe only ever receives results.

import { SingleBar, Presets } from "cli-progress";
import Table from "cli-table3";

export type OutputMode = "table" | "plain" | "json";

export interface Sink {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface Progress {
  /** Work done so far (and the total, when it became known or changed). */
  update(done: number, total?: number): void;
  stop(): void;
}

const SHOW_AFTER_MS = 1_000;

export class Output {
  constructor(
    readonly mode: OutputMode,
    private readonly stdout: Sink = process.stdout,
    private readonly stderr: Sink = process.stderr,
  ) {}

  /** --json wins; otherwise a table on a terminal and plain lines in a pipe. */
  static detect(json: boolean, stdout: Sink = process.stdout, stderr: Sink = process.stderr): Output {
    return new Output(json ? "json" : stdout.isTTY ? "table" : "plain", stdout, stderr);
  }

  line(text = ""): void {
    this.stdout.write(`${text}\n`);
  }

  /** A note for the person at the terminal (stderr: never mixed into piped results). */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  json(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Rows under a header: a boxed table on a terminal, tab-separated lines (no header) in a pipe. */
  table(head: readonly string[], rows: readonly (readonly unknown[])[]): void {
    if (this.mode === "table") {
      const table = new Table({ head: [...head], wordWrap: true, style: { head: ["bold"] } });
      for (const row of rows) table.push(row.map(cell));
      this.line(table.toString());
      return;
    }
    for (const row of rows) this.line(row.map((c) => cell(c).replace(/[\t\n]/g, " ")).join("\t"));
  }

  /** A progress bar with an ETA, on a terminal only, appearing once the work has taken a second. */
  progress(label: string, total = 0): Progress {
    if (this.mode !== "table" || !this.stderr.isTTY) return { update() {}, stop() {} };
    let bar: SingleBar | undefined;
    let state = { done: 0, total };
    const started = Date.now();
    const stream = this.stderr as unknown as NodeJS.WriteStream;
    return {
      update(done, newTotal) {
        state = { done, total: newTotal ?? state.total };
        if (!bar && Date.now() - started >= SHOW_AFTER_MS) {
          bar = new SingleBar(
            { format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}`, stream, etaBuffer: 50, hideCursor: true },
            Presets.shades_classic,
          );
          bar.start(Math.max(state.total, state.done, 1), state.done);
        } else if (bar) {
          bar.setTotal(Math.max(state.total, state.done, 1));
          bar.update(state.done);
        }
      },
      stop() {
        bar?.stop();
      },
    };
  }
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}
