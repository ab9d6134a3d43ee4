// Runs one command of scripts/replay.ts: checks its arguments first (bad usage is reported
// before anything is opened, so it writes nothing), opens the stores, runs, closes, and turns
// the outcome into the documented exit code: 0 fine, 1 a finding, 2 bad usage, 3 a fault (a
// dependency down, a crash).

import { ConfigError } from "../config.js";
import type { CliContext } from "./context.js";
import { Output } from "./output.js";
import { ExitCode, UsageError, type ExitCodeValue } from "./usage.js";

export function fail(error: unknown): ExitCodeValue {
  if (error instanceof UsageError || error instanceof ConfigError) {
    process.stderr.write(`replay: ${error.message}\n`);
    return ExitCode.usage;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`replay: failed: ${message}\n`);
  return ExitCode.fault;
}

/** `prepare` validates and may throw UsageError; `work` runs with the opened stores. */
export async function runCommand<T>(
  json: boolean,
  prepare: () => T | Promise<T>,
  work: (ctx: CliContext, prepared: T) => Promise<ExitCodeValue>,
): Promise<ExitCodeValue> {
  let ctx: CliContext | undefined;
  try {
    const prepared = await prepare();
    const { openCliContext } = await import("./context.js");
    ctx = await openCliContext(Output.detect(json));
    return await work(ctx, prepared);
  } catch (error) {
    return fail(error);
  } finally {
    await ctx?.close();
  }
}
