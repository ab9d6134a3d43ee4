// Integration events in a running server: the translator always (it writes the outbox in the
// mode its transport needs), and a transport when Kafka is configured:
// - KAFKA_BROKERS + KAFKA_CONNECT_URL on PostgreSQL: the Debezium outbox connector, registered
//   for this database (outbox mode "capture");
// - KAFKA_BROKERS otherwise (embedded PGlite, EventStoreDB, or no Connect): the in-process relay,
//   a leased unit when the app passes its ownership (so of several instances one relays; after a
//   takeover the new owner may publish again what the old one sent but had not deleted yet: the
//   consumers' inbox drops those), woken by the translator's commits in this process;
// - no KAFKA_BROKERS: nothing is published and the outbox stays empty ("capture" mode).

import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import type { EventStore } from "../eventstore/port.js";
import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { startProcessor, type ProcessorDefinition, type ProcessorDeps, type RunningProcessor } from "../processing/processor.js";
import type { Ownership } from "../processing/ownership/index.js";
import { outboxBell, ringingOnCommit } from "./outbox-wake.js";
import { outboxBacklog } from "./outbox.js";
import { migrateIntegration, translatorDefinition } from "./translator.js";
import { replicationSlotLag, startDebeziumTransport } from "./transport/debezium.js";
import type { IntegrationTransport } from "./transport/port.js";
import { startRelay, type RunningRelay } from "./transport/relay.js";

/** The relay's lease. */
export const RELAY_UNIT = "integration/relay";

export interface IntegrationSettings {
  kafkaBrokers?: readonly string[];
  kafkaConnectUrl?: string;
  /** The database as Kafka Connect reaches it (the app's DATABASE_URL unless DEBEZIUM_DATABASE_URL says otherwise). */
  databaseUrl?: string;
  namespace?: string;
}

export interface RunningIntegration {
  translator: RunningProcessor;
  transport: IntegrationTransport | undefined;
  status(): Promise<Record<string, unknown>>;
  registerMetrics(registry: Registry): void;
  stop(): Promise<void>;
}

export interface IntegrationDeps {
  store: EventStore;
  sql: SqlClient;
  logger?: Logger;
  /** How the translator is started (the app passes its leased starter, so one instance runs it). */
  startProcessor?: (definition: ProcessorDefinition, deps: ProcessorDeps) => Promise<RunningProcessor>;
  /** Runs the relay as a leased unit (the app's ownership); without it the relay runs here. */
  ownership?: Pick<Ownership, "register" | "unregister">;
}

export async function startIntegration(deps: IntegrationDeps, settings: IntegrationSettings): Promise<RunningIntegration> {
  const { store, sql, logger } = deps;
  const start = deps.startProcessor ?? startProcessor;
  await migrateIntegration(sql);
  let transport: IntegrationTransport | undefined;
  const bell = outboxBell();
  const brokers = settings.kafkaBrokers ?? [];
  if (brokers.length > 0) {
    if (settings.kafkaConnectUrl && settings.databaseUrl && store.kind === "postgres" && sql.dialect === "postgres") {
      const dbname = decodeURIComponent(new URL(settings.databaseUrl).pathname.replace(/^\//, "")) || "postgres";
      transport = startDebeziumTransport({
        connectUrl: settings.kafkaConnectUrl,
        name: `${settings.namespace ?? "commerce"}-outbox-${dbname}`,
        databaseUrl: settings.databaseUrl,
        ...(settings.namespace ? { namespace: settings.namespace } : {}),
        sql,
        onError: (error) => logger?.warn({ err: error }, "outbox connector not registered yet; retrying"),
      });
    } else {
      const relayOptions = {
        sql,
        brokers,
        bell,
        ...(settings.namespace ? { namespace: settings.namespace } : {}),
        ...(logger ? { logger } : {}),
      };
      transport = deps.ownership ? leasedRelay(deps.ownership, () => startRelay(relayOptions), sql) : startRelay(relayOptions);
    }
  }
  const translator = await start(translatorDefinition({ mode: transport?.outboxMode ?? "capture" }), {
    store,
    sql: ringingOnCommit(sql, bell),
    ...(logger ? { logger } : {}),
  });

  return {
    translator,
    transport,
    async status() {
      const t = await translator.status();
      const detail = transport ? await transport.status() : { transport: "none (KAFKA_BROKERS unset)" };
      return { ...detail, translatorCheckpoint: t.checkpoint, caughtUp: t.caughtUp, parked: t.parked };
    },
    registerMetrics(registry) {
      new Gauge({
        name: "outbox_backlog_rows",
        help: "Integration events in the outbox not yet taken by Kafka (relay transport; 0 with Debezium)",
        registers: [registry],
        async collect() {
          this.set(await outboxBacklog(sql).catch(() => 0));
        },
      });
      if (sql.dialect === "postgres") {
        new Gauge({
          name: "outbox_replication_slot_lag_bytes",
          help: "WAL bytes each logical replication slot of this database holds that its consumer (Debezium) has not confirmed",
          labelNames: ["slot", "wal_status"] as const,
          registers: [registry],
          async collect() {
            this.reset();
            for (const s of await replicationSlotLag(sql).catch(() => []))
              this.set({ slot: s.slot, wal_status: s.walStatus ?? "unknown" }, s.lagBytes);
          },
        });
      }
    },
    async stop() {
      await translator.stop();
      await transport?.stop();
    },
  };
}

/** The relay under a lease: it runs on the instance holding RELAY_UNIT; the others report the backlog. */
function leasedRelay(
  ownership: Pick<Ownership, "register" | "unregister">,
  startHere: () => RunningRelay,
  sql: SqlClient,
): IntegrationTransport {
  let local: RunningRelay | undefined;
  ownership.register({
    name: RELAY_UNIT,
    async start() {
      const running = startHere();
      local = running;
      return {
        async stop() {
          if (local === running) local = undefined;
          await running.stop();
        },
      };
    },
  });
  return {
    kind: "relay",
    outboxMode: "relay",
    async status() {
      if (local) return { ...(await local.status()), relaying: "here" };
      return { transport: "relay", backlog: await outboxBacklog(sql), relaying: "on the instance holding its lease" };
    },
    stop: () => ownership.unregister(RELAY_UNIT),
  };
}
