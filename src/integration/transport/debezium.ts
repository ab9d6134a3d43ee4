// The Debezium transport: Kafka Connect runs the outbox connector of infra/debezium, which reads
// the outbox inserts from PostgreSQL's WAL through a logical replication slot. The app registers
// it (create-or-update) for its own database, so the slot, publication and connector are named
// after that database, and reports the connector's state and the slot's lag.
//
// A slot keeps WAL until the connector confirms it: the connector's heartbeat (every 10 s, a
// write to outbox_heartbeat) lets it confirm even when no integration events flow, the server's
// max_slot_wal_keep_size bounds the WAL a stalled slot may hold (infra/postgres/README.md), and
// the lag is exported as outbox_replication_slot_lag_bytes on /metrics.

import { readFileSync } from "node:fs";
import {
  deleteConnector,
  registerConnector,
  withDatabaseUrl,
  type ConnectorConfig,
  type ConnectorStatus,
} from "../../../infra/debezium/register.js";
import type { SqlExecutor } from "../../infrastructure/sql/sql-client.js";
import { DEFAULT_NAMESPACE } from "../catalog.js";
import type { IntegrationTransport } from "./port.js";

const CONNECTOR_FILE = new URL("../../../infra/debezium/outbox-connector.json", import.meta.url);

export interface OutboxConnectorOptions {
  /** The database as Connect reaches it. */
  databaseUrl: string;
  /** Connector name; slot and publication names are derived from it ([a-z0-9_]). */
  name: string;
  namespace?: string;
  /** Overrides of the file's keys (tests: heartbeat interval, ...). */
  overrides?: ConnectorConfig;
}

export const slotNameOf = (connectorName: string): string =>
  connectorName
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_")
    .slice(0, 63);

/** infra/debezium/outbox-connector.json for one database, slot and topic namespace. */
export function outboxConnectorConfig(options: OutboxConnectorOptions): ConnectorConfig {
  const file = JSON.parse(readFileSync(CONNECTOR_FILE, "utf8")) as { config: ConnectorConfig };
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const slot = slotNameOf(options.name);
  return {
    ...withDatabaseUrl(file.config, options.databaseUrl),
    "slot.name": slot,
    "publication.name": slot,
    "topic.prefix": `${namespace}_cdc_${slot}`,
    "transforms.outbox.route.topic.replacement": `${namespace}.\${routedByValue}.events`,
    ...options.overrides,
  };
}

export interface DebeziumTransportOptions extends OutboxConnectorOptions {
  connectUrl: string;
  sql: SqlExecutor;
  /** Registration keeps being retried in the background until it succeeds. */
  onError?: (error: unknown) => void;
}

export function startDebeziumTransport(options: DebeziumTransportOptions): IntegrationTransport & { registered: Promise<ConnectorStatus> } {
  const config = outboxConnectorConfig(options);
  let stopped = false;
  let lastError: unknown;
  const registered = (async () => {
    for (;;) {
      try {
        return await registerConnector({ connectUrl: options.connectUrl, name: options.name, config, timeoutMs: 120_000 });
      } catch (error) {
        lastError = error;
        options.onError?.(error);
        if (stopped) throw error;
        await new Promise((r) => setTimeout(r, 5_000));
      }
    }
  })();
  registered.catch(() => undefined);
  return {
    kind: "debezium",
    outboxMode: "capture",
    registered,
    async status() {
      const res = await fetch(`${options.connectUrl.replace(/\/+$/, "")}/connectors/${encodeURIComponent(options.name)}/status`);
      if (!res.ok) throw new Error(`connector ${options.name}: HTTP ${res.status}${lastError ? ` (${(lastError as Error).message})` : ""}`);
      const s = (await res.json()) as ConnectorStatus;
      const states = [s.connector.state, ...s.tasks.map((t) => t.state)];
      if (states.some((x) => x !== "RUNNING") || s.tasks.length === 0) throw new Error(`connector ${options.name} is ${states.join("/")}`);
      const slots = await replicationSlotLag(options.sql);
      return {
        transport: "debezium",
        connector: options.name,
        state: s.connector.state,
        slotLagBytes: slots.find((x) => x.slot === config["slot.name"])?.lagBytes ?? null,
      };
    },
    async stop() {
      stopped = true;
    },
  };
}

export interface SlotLag {
  slot: string;
  active: boolean;
  /** WAL bytes the slot holds that its consumer has not confirmed. */
  lagBytes: number;
  /** PostgreSQL's verdict: reserved, extended, unreserved (about to be lost), lost. */
  walStatus: string | null;
}

/** Logical slots of the current database and how far behind the server's WAL each is. */
export async function replicationSlotLag(sql: SqlExecutor): Promise<SlotLag[]> {
  const { rows } = await sql.query<{ slot_name: string; active: boolean; lag: string | number | null; wal_status: string | null }>(
    `SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag, wal_status
       FROM pg_replication_slots WHERE database = current_database() AND slot_type = 'logical' ORDER BY slot_name`,
  );
  return rows.map((r) => ({ slot: r.slot_name, active: r.active, lagBytes: Number(r.lag ?? 0), walStatus: r.wal_status }));
}

/**
 * Deletes the connector and drops its slot once the stopped task released it (a slot left
 * behind holds WAL on the server forever).
 */
export async function removeOutboxConnector(options: { connectUrl: string; name: string; sql: SqlExecutor }): Promise<void> {
  await deleteConnector({ connectUrl: options.connectUrl, name: options.name });
  const slot = slotNameOf(options.name);
  for (let i = 0; i < 120; i++) {
    const { rows } = await options.sql.query<{ active: boolean; active_pid: number | null }>(
      "SELECT active, active_pid FROM pg_replication_slots WHERE slot_name = $1",
      [slot],
    );
    const row = rows[0];
    if (!row) break;
    if (!row.active) {
      await options.sql.query("SELECT pg_drop_replication_slot($1)", [slot]).catch(() => undefined);
      continue;
    }
    if (i === 40 && row.active_pid) await options.sql.query("SELECT pg_terminate_backend($1)", [row.active_pid]);
    await new Promise((r) => setTimeout(r, 500));
  }
  await options.sql.query(`DROP PUBLICATION IF EXISTS ${slot}`);
}
