// The integration runtime as the server starts it, with KAFKA_BROKERS unset: nothing is published,
// nothing fails, the outbox stays empty however many events are translated; and /metrics carries
// the outbox backlog and each logical replication slot's lag (what keeps a stalled Debezium slot
// from filling the disk unnoticed).

import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { outboxBacklog } from "../../src/integration/outbox.js";
import { startIntegration, type RunningIntegration } from "../../src/integration/runtime.js";
import { missing, server } from "../support/env.js";
import { appendScript, shopScript } from "./fixtures.js";
import { runId } from "./kafka-support.js";
import { openPostgresUrlWorld, type UrlWorld } from "./worlds.js";

const database = server("DATABASE_URL");

describe.skipIf(missing(database))("integration runtime without Kafka", () => {
  let world: UrlWorld | undefined;
  let integration: RunningIntegration | undefined;
  const slot = `t_slot_${runId()}`;

  afterAll(async () => {
    await integration?.stop();
    await world?.sql.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", [slot]);
    await world?.close();
  });

  it("translates, publishes nothing, keeps the outbox empty, and exports backlog and slot lag", async () => {
    world = await openPostgresUrlWorld();
    integration = await startIntegration({ store: world.store, sql: world.sql }, {});
    expect(integration.transport).toBeUndefined();
    const head = await appendScript(world.store, shopScript(runId(), 5));
    await integration.translator.caughtUpTo(head, 60_000);
    expect(await outboxBacklog(world.sql)).toBe(0);
    const status = await integration.status();
    expect(status.transport).toMatch(/none/);
    expect(status.caughtUp).toBe(true);

    // A slot that nobody consumes (as a stopped Debezium connector leaves it) holds WAL.
    await world.sql.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    await appendScript(world.store, shopScript(runId(), 2));
    const registry = new Registry();
    integration.registerMetrics(registry);
    const text = await registry.metrics();
    expect(text).toMatch(/^outbox_backlog_rows 0$/m);
    const lag = new RegExp(`^outbox_replication_slot_lag_bytes\\{slot="${slot}",wal_status="(\\w+)"\\} (\\d+)$`, "m").exec(text);
    expect(lag?.[1]).toBe("reserved");
    expect(Number(lag?.[2])).toBeGreaterThan(0);
  }, 120_000);
});
