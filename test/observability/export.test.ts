// npm start with OTEL_EXPORTER_OTLP_ENDPOINT set sends its spans there over OTLP/HTTP: the test
// plays the collector, creates a product through the API, stops the server (which flushes) and
// finds the request's trace among what was posted to /v1/traces.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

describe("trace export", () => {
  it("posts the spans of an API request to the configured OTLP endpoint", async () => {
    const received: { path: string; contentType: string; body: Buffer }[] = [];
    const collector = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ path: req.url ?? "", contentType: String(req.headers["content-type"]), body: Buffer.concat(chunks) });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const dataDir = mkdtempSync(join(tmpdir(), "otel-test-"));
    try {
      const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
        env: {
          ...process.env,
          LOG_LEVEL: "warn",
          DATA_DIR: dataDir,
          PORT: "0",
          DATABASE_URL: "",
          REDIS_URL: "",
          ELASTICSEARCH_URL: "",
          KAFKA_BROKERS: "",
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      const deadline = Date.now() + 60_000;
      while (!/listening on (http:\/\/\S+)/.test(out) && Date.now() < deadline && child.exitCode === null)
        await new Promise((r) => setTimeout(r, 100));
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      expect(url, err).toBeTruthy();
      const token = /Dev admin token.*\n\s+(\S+)/.exec(out)?.[1];
      const created = await fetch(`${url}/api/products`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ sku: "OTEL-1", name: "traced", category: [], price: 100 }),
      });
      expect(created.status).toBe(201);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);

      const traces = received.filter((r) => r.path === "/v1/traces");
      expect(traces.length, `posted: ${received.map((r) => r.path).join(", ")}`).toBeGreaterThan(0);
      // OTLP/HTTP protobuf: span names travel as plain UTF-8 inside the message.
      const payload = Buffer.concat(traces.map((t) => t.body)).toString("latin1");
      expect(payload).toContain("command CreateProduct");
      expect(payload).toContain("eventstore.appendToStream");
      // Only traces: metrics are Prometheus' (/metrics) and logs pino's.
      expect(received.filter((r) => r.path !== "/v1/traces")).toEqual([]);
    } finally {
      collector.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
