// `npm run consumer -- notifications|analytics` runs one consumer alone, as the server would run
// it: on KAFKA_NAMESPACE's topics and consumer group, until SIGTERM; bad usage exits 2.

import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";
import { runId } from "./kafka-support.js";

const brokers = server("KAFKA_BROKERS");
const database = server("DATABASE_URL");

interface Ran {
  code: number | null;
  output: string;
}

/** Runs scripts/consumer.ts; `whenOutput` says when to send SIGTERM (never: wait for the exit). */
function runCommand(args: string[], env: Record<string, string>, whenOutput?: (output: string) => boolean): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/consumer.ts", ...args], {
      env: { ...process.env, LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let signalled = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (!signalled && whenOutput?.(output)) {
        signalled = true;
        child.kill("SIGTERM");
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe.skipIf(missing(brokers, database))("npm run consumer", () => {
  const namespace = `t_cmd_${runId()}`;
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  for (const name of ["notifications", "analytics"] as const) {
    it(`-- ${name} consumes KAFKA_NAMESPACE's topics in its group, and stops on SIGTERM`, async () => {
      const ran = await runCommand(
        [name],
        { KAFKA_BROKERS: brokers.value ?? "", DATABASE_URL: db.url, KAFKA_NAMESPACE: namespace },
        (out) => out.includes("consuming;"),
      );
      expect(ran.code, ran.output).toBe(0);
      expect(ran.output).toContain(`"group":"${namespace}-${name}"`);
      expect(ran.output).toContain('"msg":"stopped"');
    }, 120_000);
  }

  it("bad usage exits 2", async () => {
    expect((await runCommand(["replay-dlq"], { KAFKA_BROKERS: brokers.value ?? "", DATABASE_URL: db.url })).code).toBe(2);
    expect((await runCommand(["billing"], { KAFKA_BROKERS: brokers.value ?? "", DATABASE_URL: db.url })).code).toBe(2);
  }, 60_000);
});
