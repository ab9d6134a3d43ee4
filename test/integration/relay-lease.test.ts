// Two server instances on one database, each starting the integration runtime with the relay
// transport under its ownership loop (as src/app.ts does): one of them holds the relay's lease
// and relays, so in steady state each integration event reaches Kafka exactly once. After the
// relaying instance stops, the other takes the lease over and publishes what comes next. (A
// takeover after a crash may publish again what the old owner had sent but not yet deleted: that
// is the at-least-once the consumers' inbox absorbs, see consumers.test.ts; a graceful handover
// stops the relay after its batch's delete, so it does not.)

import type { Kafka } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEventStore, type EventStore } from "../../src/eventstore/index.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { topicOf } from "../../src/integration/catalog.js";
import { outboxBacklog } from "../../src/integration/outbox.js";
import { RELAY_UNIT, startIntegration, type RunningIntegration } from "../../src/integration/runtime.js";
import { TRANSLATOR_NAME } from "../../src/integration/translator.js";
import { leasedProcessors, startOwnership, type Ownership } from "../../src/processing/ownership/index.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";
import { appendScript, expectedOrderTypes, shopScript } from "./fixtures.js";
import { collect, createTopics, kafkaOf, runId, sleep, type SeenRecord } from "./kafka-support.js";

const brokers = server("KAFKA_BROKERS");
const database = server("DATABASE_URL");

const AGGREGATES = ["order", "payment", "inventory", "product"] as const;
const eventsOf = (orders: number) =>
  Array.from({ length: orders }, (_, i) => expectedOrderTypes(i).length + 2).reduce((a, b) => a + b, 0) + 2;

interface Instance {
  sql: SqlClient;
  store: EventStore;
  ownership: Ownership;
  integration: RunningIntegration;
  stopped: boolean;
}

describe.skipIf(missing(brokers, database))("the relay runs under a lease: of two instances on one database one relays", () => {
  const run = runId();
  const namespace = `t_lease_${run}`;
  const kafka: Kafka = kafkaOf(brokers.value ?? "");
  const topics = AGGREGATES.map((a) => topicOf(a, namespace));
  let db: TestDatabase;
  const instances: Instance[] = [];

  const startInstance = async (instanceId: string): Promise<Instance> => {
    const sql = createPgClient({ connectionString: db.url, max: 6 });
    const store = await openEventStore({ sql, pollIntervalMs: 20 });
    const ownership = await startOwnership({ sql, instanceId, roles: ["processors"], ttlMs: 3_000, heartbeatMs: 500 });
    const integration = await startIntegration(
      { store, sql, startProcessor: leasedProcessors(ownership), ownership },
      { kafkaBrokers: (brokers.value ?? "").split(","), namespace },
    );
    const instance = { sql, store, ownership, integration, stopped: false };
    instances.push(instance);
    return instance;
  };

  const stopInstance = async (i: Instance) => {
    if (i.stopped) return;
    i.stopped = true;
    await i.integration.stop();
    await i.ownership.stop();
    await i.store.close();
    await i.sql.close();
  };

  /** Every record on the topics once nothing new has arrived for `quietMs`. */
  const allRecords = async (atLeast: number, quietMs = 3_000): Promise<SeenRecord[]> => {
    let lastCount = -1;
    let lastChange = Date.now();
    return collect(kafka, topics, (seen) => {
      if (seen.length !== lastCount) {
        lastCount = seen.length;
        lastChange = Date.now();
      }
      return seen.length >= atLeast && Date.now() - lastChange >= quietMs;
    });
  };

  const countsById = (records: SeenRecord[]) => {
    const counts = new Map<string, number>();
    for (const r of records) counts.set(r.headers.ce_id ?? "", (counts.get(r.headers.ce_id ?? "") ?? 0) + 1);
    return counts;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    const admin = kafka.admin();
    await admin.connect();
    await createTopics(admin, topics);
    await admin.disconnect();
  });

  afterAll(async () => {
    for (const i of instances) await stopInstance(i).catch(() => undefined);
    await db?.drop().catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });

  it("in steady state one instance relays and each event is published once; after it stops the other relays", async () => {
    const a = await startInstance("lease-a");
    const b = await startInstance("lease-b");
    // Let both see each other and settle the assignment (each hands over what is the other's).
    for (let round = 0; round < 4; round++) {
      await a.ownership.rebalance();
      await b.ownership.rebalance();
      await sleep(600);
    }
    const relayers = [a, b].filter((i) => i.ownership.owns(RELAY_UNIT));
    expect(relayers).toHaveLength(1);
    expect([a, b].filter((i) => i.ownership.owns(TRANSLATOR_NAME))).toHaveLength(1);
    const [relayer] = relayers;
    const other = relayer === a ? b : a;
    expect((await relayer!.integration.status()).relaying).toBe("here");
    expect((await other.integration.status()).relaying).not.toBe("here");

    // Steady state: both instances up, both relays started, one lease.
    const first = shopScript(`${run}a`, 6);
    await appendScript(a.store, first);
    const expectedFirst = eventsOf(6);
    const seen = await allRecords(expectedFirst);
    const counts = countsById(seen);
    expect(counts.size).toBe(expectedFirst);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await outboxBacklog(a.sql)).toBe(0);

    // The relaying instance stops (graceful: its units are handed over); the other takes the relay.
    await stopInstance(relayer!);
    for (let round = 0; round < 20 && !other.ownership.owns(RELAY_UNIT); round++) {
      await other.ownership.rebalance();
      await sleep(250);
    }
    expect(other.ownership.owns(RELAY_UNIT)).toBe(true);
    const second = shopScript(`${run}b`, 3);
    await appendScript(other.store, second);
    const after = await allRecords(expectedFirst + eventsOf(3));
    const afterCounts = countsById(after);
    // Nothing lost; every id of the first batch still once (a graceful handover re-sends nothing).
    expect(afterCounts.size).toBe(expectedFirst + eventsOf(3));
    expect([...afterCounts.values()].every((n) => n === 1)).toBe(true);
  }, 180_000);
});
