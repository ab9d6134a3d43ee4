// Runs the real CLI (scripts/replay.ts) as a child process, in a pipe or on a pseudo-terminal.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: Record<string, string | undefined>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 99) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `replay <args>` with stdout and stderr piped. */
export const replay = (args: string[], env: Record<string, string | undefined>): Promise<Run> =>
  run(process.execPath, ["--import", "tsx", "scripts/replay.ts", ...args], env);

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `replay <args>` on a pseudo-terminal (util-linux `script`), as a person at a terminal runs it. */
export const replayOnTerminal = (args: string[], env: Record<string, string | undefined>): Promise<Run> =>
  run("script", ["-qec", [process.execPath, "--import", "tsx", "scripts/replay.ts", ...args].map(quote).join(" "), "/dev/null"], {
    COLUMNS: "200",
    ...env,
  });
