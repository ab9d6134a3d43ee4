// Bad usage: what the user typed cannot be run. The CLI prints the message (naming the problem)
// and exits 2, having written nothing. Also the parsers of option values, so every command
// rejects a bad date or position the same way.

import type { Checkpoint } from "../eventstore/port.js";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The exit codes of scripts/replay.ts (docs/CONTRACT.md "Command line"). */
export const ExitCode = { ok: 0, finding: 1, usage: 2, fault: 3 } as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** An ISO date (midnight UTC) or an ISO date-time with its zone. */
export function parseInstant(option: string, text: string): Date {
  const value = text.trim();
  const ms = ISO_DATE.test(value) ? Date.parse(`${value}T00:00:00Z`) : ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${option}: "${text}" is not a date (use 2026-03-01 or 2026-03-01T10:00:00Z)`);
  // Date.parse rolls 2026-02-31 over into March: a calendar date that does not exist is refused.
  if (ISO_DATE.test(value) && new Date(ms).toISOString().slice(0, 10) !== value)
    throw new UsageError(`${option}: "${text}" is not a calendar date`);
  return new Date(ms);
}

/** A log position as the store prints it ("<digits>:<digits>"). */
export function parsePosition(option: string, text: string): Checkpoint {
  if (!/^\d{1,20}:\d{1,20}$/.test(text))
    throw new UsageError(
      `${option}: "${text}" is not a log position (as printed by "events", e.g. 00000000000000000712:00000000000000000042)`,
    );
  const [a, b] = text.split(":") as [string, string];
  return `${a.padStart(20, "0")}:${b.padStart(20, "0")}`;
}

/** `--as-of`: a time or a position. */
export function parseAsOf(text: string): { time: Date } | { position: Checkpoint } {
  return /^\d{1,20}:\d{1,20}$/.test(text) ? { position: parsePosition("--as-of", text) } : { time: parseInstant("--as-of", text) };
}

export function parseChoice<T extends string>(option: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${option}: "${text}" is not one of ${choices.join(", ")}`);
  return text as T;
}

export function parseCount(option: string, text: string): number {
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`${option}: "${text}" is not a positive whole number`);
  return Number(text);
}
