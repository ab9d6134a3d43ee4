// A PostgreSQL 15 cluster of the test's own (initdb + pg_ctl in a temporary directory, on a free
// port), so a test may stop and restart it: the shared server on 5432 is never touched. Tuned
// for a throwaway cluster (minimal WAL, no fsync: safe against a crash of PostgreSQL, not of the
// machine), but a commit is acknowledged only once in the WAL (synchronous_commit stays on):
// with it off, a crash loses the last acknowledged commits and a test would see accepted orders
// vanish. As root, the binaries run as the `postgres` user (PostgreSQL refuses to run as root).

import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../instances/cluster.js";

const run = promisify(execFile);
export const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** Why a private cluster cannot be had here, or undefined when it can. */
export function privatePostgresMissing(): string | undefined {
  return existsSync(join(PG_BIN, "initdb")) && existsSync(join(PG_BIN, "pg_ctl"))
    ? undefined
    : `no PostgreSQL binaries in ${PG_BIN} (set PG_BIN)`;
}

export interface PrivatePostgres {
  url: string;
  /** Stops the server at once (as a crash would: no checkpoint, open connections cut). */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), "pg-private-"));
  const asRoot = userInfo().uid === 0;
  const pgUser = asRoot ? Number((await run("id", ["-u", "postgres"])).stdout.trim()) : undefined;
  if (pgUser !== undefined) chownSync(dir, pgUser, Number((await run("id", ["-g", "postgres"])).stdout.trim()));
  const bin = (tool: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(PG_BIN, tool), ...args]) : run(join(PG_BIN, tool), args);
  const data = join(dir, "data");
  await bin("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c wal_level=minimal",
    "-c max_wal_senders=0",
    "-c fsync=off",
    "-c full_page_writes=off",
    "-c max_connections=100",
    "-c shared_buffers=64MB",
  ].join(" ");
  const start = async () => void (await bin("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "60", "start"]));
  const stop = async (mode: "immediate" | "fast") =>
    void (await bin("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"]).catch(() => undefined));
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kill: () => stop("immediate"),
    start,
    async destroy() {
      await stop("immediate");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
