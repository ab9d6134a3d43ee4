// Registers (create-or-update) a Kafka Connect connector and waits until it really runs.
//
// CLI:   npx tsx infra/debezium/register.ts [connector.json]
//   KAFKA_CONNECT_URL       Connect REST endpoint (default http://127.0.0.1:8083)
//   DEBEZIUM_DATABASE_URL   database as Connect sees it; falls back to DATABASE_URL. Its host,
//                           port, user, password and database name override the file's.
//   CONNECTOR_NAME          overrides the name in the file
// There is no maintained Connect client on npm; plain fetch is enough for these two calls.

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

export type ConnectorConfig = Record<string, string>;

export interface ConnectorFile {
  name: string;
  config: ConnectorConfig;
}

interface TaskStatus {
  id: number;
  state: string;
  worker_id: string;
  trace?: string;
}

export interface ConnectorStatus {
  name: string;
  connector: { state: string; worker_id: string; trace?: string };
  tasks: TaskStatus[];
}

export interface RegisterOptions {
  connectUrl: string;
  name: string;
  config: ConnectorConfig;
  /** How long the connector and its tasks may take to reach RUNNING. */
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connectRequest(url: string, init?: RequestInit): Promise<Response> {
  return fetch(url, { ...init, headers: { "content-type": "application/json", accept: "application/json" } });
}

/**
 * PUT /connectors/<name>/config, then polls /connectors/<name>/status until the connector and
 * every task are RUNNING. Throws with Connect's stack trace when anything FAILED, or on timeout.
 */
export async function registerConnector({ connectUrl, name, config, timeoutMs = 60_000 }: RegisterOptions): Promise<ConnectorStatus> {
  const base = `${connectUrl.replace(/\/+$/, "")}/connectors/${encodeURIComponent(name)}`;
  const deadline = Date.now() + timeoutMs;

  // 409 means the worker group is rebalancing (e.g. right after the worker started): retry.
  for (;;) {
    const res = await connectRequest(`${base}/config`, { method: "PUT", body: JSON.stringify({ ...config, name }) });
    if (res.ok) break;
    const body = await res.text();
    if (res.status !== 409 || Date.now() > deadline) {
      const problems = await validationErrors(connectUrl, { ...config, name });
      throw new Error(`Connect refused connector ${name}: HTTP ${res.status} ${body}${problems ? `\n${problems}` : ""}`);
    }
    await sleep(500);
  }

  let last: ConnectorStatus | undefined;
  while (Date.now() < deadline) {
    const res = await connectRequest(`${base}/status`);
    if (res.ok) {
      last = (await res.json()) as ConnectorStatus;
      const failed = [last.connector, ...last.tasks].find((s) => s.state === "FAILED");
      if (failed) {
        throw new Error(
          `connector ${name} FAILED (${"id" in failed ? `task ${failed.id}` : "connector"}):\n${failed.trace ?? "(no trace)"}`,
        );
      }
      if (last.connector.state === "RUNNING" && last.tasks.length > 0 && last.tasks.every((t) => t.state === "RUNNING")) {
        return last;
      }
    } else if (res.status !== 404) {
      // 404 only means the status is not written yet; anything else is worth reporting.
      throw new Error(`status of connector ${name}: HTTP ${res.status} ${await res.text()}`);
    }
    await sleep(500);
  }
  throw new Error(`connector ${name} not RUNNING after ${timeoutMs} ms; last status: ${JSON.stringify(last)}`);
}

/**
 * The per-field errors of Connect's validate endpoint: a refused PUT's own message can be an
 * opaque server error, while validation names the field and the cause (e.g. an unknown database).
 */
async function validationErrors(connectUrl: string, config: ConnectorConfig): Promise<string> {
  const plugin = encodeURIComponent(config["connector.class"] ?? "");
  try {
    const res = await connectRequest(`${connectUrl.replace(/\/+$/, "")}/connector-plugins/${plugin}/config/validate`, {
      method: "PUT",
      body: JSON.stringify(config),
    });
    if (!res.ok) return "";
    const result = (await res.json()) as { configs?: { value?: { name: string; errors?: string[] } }[] };
    return (result.configs ?? []).flatMap((c) => (c.value?.errors ?? []).map((e) => `  ${c.value?.name}: ${e}`)).join("\n");
  } catch {
    return "";
  }
}

/** DELETE /connectors/<name>; a connector that does not exist is not an error. */
export async function deleteConnector({ connectUrl, name }: { connectUrl: string; name: string }): Promise<void> {
  const res = await connectRequest(`${connectUrl.replace(/\/+$/, "")}/connectors/${encodeURIComponent(name)}`, { method: "DELETE" });
  if (!res.ok && res.status !== 404) throw new Error(`deleting connector ${name}: HTTP ${res.status} ${await res.text()}`);
}

/** Copies host, port, user, password and database name of a postgres:// URL into a Debezium config. */
export function withDatabaseUrl(config: ConnectorConfig, databaseUrl: string): ConnectorConfig {
  const url = new URL(databaseUrl);
  const out: ConnectorConfig = { ...config, "database.hostname": url.hostname };
  if (url.port) out["database.port"] = url.port;
  if (url.username) out["database.user"] = decodeURIComponent(url.username);
  if (url.password) out["database.password"] = decodeURIComponent(url.password);
  const dbname = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (dbname) out["database.dbname"] = dbname;
  return out;
}

export async function loadConnectorFile(path: string): Promise<ConnectorFile> {
  const parsed = JSON.parse(await readFile(path, "utf8")) as ConnectorFile;
  if (!parsed.name || !parsed.config) throw new Error(`${path}: expected {"name": ..., "config": {...}}`);
  return parsed;
}

async function main(): Promise<void> {
  const file = resolve(process.argv[2] ?? new URL("./outbox-connector.json", import.meta.url).pathname);
  const { name: fileName, config: fileConfig } = await loadConnectorFile(file);
  const dbUrl = process.env.DEBEZIUM_DATABASE_URL || process.env.DATABASE_URL;
  const config = dbUrl ? withDatabaseUrl(fileConfig, dbUrl) : fileConfig;
  const name = process.env.CONNECTOR_NAME || fileName;
  const connectUrl = process.env.KAFKA_CONNECT_URL || "http://127.0.0.1:8083";
  const status = await registerConnector({ connectUrl, name, config });
  console.log(`connector ${name} RUNNING with ${status.tasks.length} task(s) on ${connectUrl}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
