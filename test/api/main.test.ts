// npm start as a process: prints its URL and dev credentials, serves, and on SIGTERM drains and exits 0;
// a bad configuration value stops start-up with one line naming the variable.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, out: () => out, err: () => err };
}

describe("the server process", () => {
  it("stops start-up on a bad value with one line naming the variable (exit 1, no stack)", async () => {
    const p = run({ PAYMENT_TIMEOUT_MS: "-1", DATABASE_URL: "" });
    expect(await p.exited).toBe(1);
    expect(p.err().trim().split("\n")).toEqual([expect.stringContaining("PAYMENT_TIMEOUT_MS")]);
  });

  it("starts on the embedded store, prints URL and dev credentials, and on SIGTERM drains and exits 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "main-test-"));
    try {
      const p = run({ DATA_DIR: dataDir, PORT: "0", DATABASE_URL: "", AUTH_JWT_SECRET: "", PAYMENT_WEBHOOK_SECRET: "" });
      const deadline = Date.now() + 60_000;
      while (!/listening on (http:\/\/\S+)/.test(p.out()) && Date.now() < deadline && p.child.exitCode === null)
        await new Promise((r) => setTimeout(r, 100));
      const url = /listening on (http:\/\/\S+)/.exec(p.out())?.[1];
      expect(url, p.err()).toBeTruthy();
      expect(p.out()).toContain("Dev admin token");
      expect(p.out()).toMatch(/whsec_[0-9a-f]+/);
      const token = /Dev admin token.*\n\s+(\S+)/.exec(p.out())?.[1];
      const created = await fetch(`${url}/api/products`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ sku: "MAIN-1", name: "m", category: [], price: 100 }),
      });
      expect(created.status).toBe(201);
      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      expect(p.out()).toContain("SIGTERM: draining requests");
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
