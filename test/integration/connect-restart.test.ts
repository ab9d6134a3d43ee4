// The Connect worker is killed (SIGKILL) mid-stream and restarted: a worker of the test's own
// (own REST port, group and internal topics, on the shared broker), so the shared worker other
// suites use is never touched. Every integration event still reaches the notifications
// consumer's inbox exactly once: nothing lost while the worker was down (the replication slot
// kept the WAL), and whatever the restarted task sent again (offsets are flushed only every 5 s)
// is absorbed by the inbox.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsumer, type RunningConsumer } from "../../src/consumers/consumer.js";
import { notificationsConsumer } from "../../src/consumers/notifications/notifications.js";
import { topicOf } from "../../src/integration/catalog.js";
import { migrateIntegration, translatorDefinition } from "../../src/integration/translator.js";
import { removeOutboxConnector, slotNameOf, startDebeziumTransport } from "../../src/integration/transport/debezium.js";
import { startProcessor, type RunningProcessor } from "../../src/processing/processor.js";
import { missing, server } from "../support/env.js";
import { expectedOrderTypes, shopScript } from "./fixtures.js";
import { createTopics, kafkaOf, runId, sleep } from "./kafka-support.js";
import { ownConnectWorker, ownServersAvailable, type OwnProcess } from "./own-servers.js";
import { openPostgresUrlWorld, type UrlWorld } from "./worlds.js";

const brokers = server("KAFKA_BROKERS");
const database = server("DATABASE_URL");
const connect = server("KAFKA_CONNECT_URL");

const ORDERS = 30;
const EXPECTED = Array.from({ length: ORDERS }, (_, i) => expectedOrderTypes(i).length + 2).reduce((a, b) => a + b, 0);

describe.skipIf(missing(brokers, database, connect))("Connect worker killed and restarted mid-stream", () => {
  const run = runId();
  const namespace = `t_kill_${run}`;
  const connectorName = `kill-outbox-${run}`;
  const kafka = kafkaOf(brokers.value ?? "");
  const topics = ["order", "payment", "inventory", "product"].map((a) => topicOf(a, namespace));
  let worker: OwnProcess;
  let world: UrlWorld;
  let translator: RunningProcessor | undefined;
  let consumer: RunningConsumer | undefined;

  beforeAll(async () => {
    if (!ownServersAvailable()) throw new Error("infra/local/.work has no Kafka/Connect jars: run npm run infra:up first");
    worker = await ownConnectWorker(brokers.value ?? "", run);
    await worker.start();
    world = await openPostgresUrlWorld();
    await migrateIntegration(world.sql);
    const admin = kafka.admin();
    await admin.connect();
    await createTopics(admin, topics);
    await admin.disconnect();
  }, 240_000);

  afterAll(async () => {
    await consumer?.stop();
    await translator?.stop();
    if (world)
      await removeOutboxConnector({ connectUrl: worker.address, name: connectorName, sql: world.sql }).catch((e: unknown) =>
        console.warn(e),
      );
    await worker?.dispose();
    await world?.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin
      .deleteTopics({ topics: [...topics, `_own-connect-${run}-configs`, `_own-connect-${run}-offsets`, `_own-connect-${run}-status`] })
      .catch(() => undefined);
    await admin.deleteGroups([`kill-${run}`, `own-connect-${run}`]).catch(() => undefined);
    await admin.disconnect();
  });

  it("loses nothing and the inbox sees each event once", async () => {
    const transport = startDebeziumTransport({
      connectUrl: worker.address,
      name: connectorName,
      databaseUrl: world.url,
      namespace,
      sql: world.sql,
    });
    await transport.registered;
    const slot = slotNameOf(connectorName);
    while ((await world.sql.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slot])).rows.length === 0) await sleep(250);
    translator = await startProcessor(translatorDefinition({ mode: "capture" }), { store: world.store, sql: world.sql });
    consumer = await startConsumer(notificationsConsumer(), {
      sql: world.sql,
      brokers: (brokers.value ?? "").split(","),
      namespace,
      groupId: `kill-${run}`,
    });
    const inbox = async () =>
      (
        await world.sql.query<{ n: number; d: number }>(
          "SELECT count(*)::int AS n, coalesce(sum(deliveries), 0)::int AS d FROM consumer_inbox",
        )
      ).rows[0]!;

    const script = shopScript(run, ORDERS);
    const half = Math.floor(script.streams.length / 2);
    // A stream of appends; the worker dies a third of the way in and comes back two thirds in.
    for (const [i, s] of script.streams.entries()) {
      await world.store.appendToStream(s.streamId, s.events);
      if (i === Math.floor(half / 2)) await worker.kill();
      if (i === half) {
        // While it is down, events keep committing; the slot holds their WAL.
        await sleep(2_000);
        await worker.start();
      }
      if (i % 20 === 0) await sleep(50);
    }
    await translator.caughtUpTo(await world.store.headCheckpoint(), 60_000);
    const deadline = Date.now() + 180_000;
    while ((await inbox()).n < EXPECTED) {
      if (Date.now() > deadline) throw new Error(`inbox has ${(await inbox()).n} of ${EXPECTED} events`);
      await sleep(500);
    }
    await sleep(3_000); // anything re-sent late would show up now
    const { n, d } = await inbox();
    console.info(`[connect restart] ${n} events, ${d} deliveries (${d - n} duplicates absorbed)`);
    expect(n).toBe(EXPECTED);
    expect(d).toBeGreaterThanOrEqual(n);
    // Each event once: the inbox key is the event id, and the messages exist once per event and channel.
    const { rows } = await world.sql.query<{ dupes: number }>(
      "SELECT count(*)::int AS dupes FROM (SELECT order_id, template, channel FROM notification_messages GROUP BY 1, 2, 3 HAVING count(*) > 1) x",
    );
    expect(rows[0]?.dupes).toBe(0);
    expect((await transport.status()).state).toBe("RUNNING");
  }, 420_000);
});
