// The public contract of the integration events, without servers: the AsyncAPI document
// validates, no schema changes under a published version, the outbox DDL shipped for Docker is
// the app's own, and the translator on embedded PGlite is deterministic (a replay from position 0
// yields the same ids and bytes), leaks no internal fields, and keeps personal data in
// order.placed only.

import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { integrationEventTypes, payloadErrors } from "../../src/integration/catalog.js";
import { asyncApiDocument } from "../../src/integration/asyncapi.js";
import { schemaFingerprint } from "../../src/integration/fingerprint.js";
import { OUTBOX_DDL } from "../../src/integration/outbox.js";
import { migrateIntegration, resetTranslator, translatorDefinition } from "../../src/integration/translator.js";
import { startProcessor } from "../../src/processing/processor.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";
import { appendScript, shopScript } from "./fixtures.js";

const committed = JSON.parse(readFileSync(new URL("../../src/integration/schema-fingerprints.json", import.meta.url), "utf8")) as Record<
  string,
  string
>;

describe("integration event contract", () => {
  it("the AsyncAPI 3.0 document validates with @asyncapi/parser and lists every type on its topic", async () => {
    const doc = asyncApiDocument();
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc));
    const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join(".")}: ${d.message}`);
    expect(errors).toEqual([]);
    expect(document?.version()).toBe("3.0.0");
    const names = document!
      .allMessages()
      .all()
      .map((m) => m.name());
    expect(names.sort()).toEqual(integrationEventTypes.map((e) => e.type).sort());
    expect(
      document!
        .channels()
        .all()
        .map((c) => c.address())
        .sort(),
    ).toEqual(["commerce.inventory.events", "commerce.order.events", "commerce.payment.events", "commerce.product.events"]);
    // The document says which messages carry personal data.
    const personal = document!
      .allMessages()
      .all()
      .filter((m) =>
        m
          .tags()
          .all()
          .some((t) => t.name() === "personal-data"),
      )
      .map((m) => m.name());
    expect(personal).toEqual(["commerce.order.placed.v1"]);
  });

  it("no integration event's schema changed without a new version (committed fingerprints)", () => {
    const current = Object.fromEntries(integrationEventTypes.map((e) => [e.type, schemaFingerprint(e.schema)]));
    for (const [type, fingerprint] of Object.entries(current)) {
      expect(committed[type], `${type} is new: add "${type}": "${fingerprint}" to src/integration/schema-fingerprints.json`).toBeDefined();
      expect(
        fingerprint,
        `the schema of ${type} changed: publish the change as a new version (…v${Number(/v(\d+)$/.exec(type)?.[1] ?? 1) + 1}) and keep ${type} as it was`,
      ).toBe(committed[type]);
    }
    for (const type of Object.keys(committed)) expect(current[type], `${type} was published and must stay`).toBeDefined();
    expect(integrationEventTypes.every((e) => /\.v\d+$/.test(e.type))).toBe(true);
  });

  it("a changed schema under the same type is detected", () => {
    const placed = integrationEventTypes.find((e) => e.type === "commerce.order.placed.v1")!;
    const changed = JSON.parse(JSON.stringify(placed.schema)) as { properties: Record<string, unknown> };
    changed.properties.giftWrap = { type: "boolean" };
    expect(schemaFingerprint(changed)).not.toBe(committed[placed.type]);
  });

  it("infra/postgres/01-outbox.sql creates exactly the app's outbox", () => {
    const file = readFileSync(new URL("../../infra/postgres/01-outbox.sql", import.meta.url), "utf8");
    const statements = (s: string) =>
      s
        .split("\n")
        .filter((l) => !l.startsWith("--"))
        .join("\n")
        .trim();
    expect(statements(file)).toBe(OUTBOX_DDL);
  });
});

describe("translator (embedded PGlite)", () => {
  let world: StoreWorld;
  const script = shopScript("cat", 6);
  const snapshot = async () =>
    (
      await world.sql.query<{ id: string; type: string; aggregate_id: string; payload: Uint8Array; ce_time: string; traceparent: string }>(
        "SELECT id::text AS id, type, aggregate_id, payload, ce_time, traceparent FROM outbox ORDER BY seq",
      )
    ).rows.map((r) => ({
      ...r,
      payload: Buffer.from(r.payload).toString("utf8"),
    }));

  beforeAll(async () => {
    world = await openPgliteWorld();
    await migrateIntegration(world.sql);
  });
  afterAll(async () => world?.close());

  it("translates the lifecycle; a replay from position 0 yields the same ids and bytes; only order.placed carries personal data", async () => {
    const def = translatorDefinition({ mode: "relay" });
    const head = await appendScript(world.store, script);
    let p = await startProcessor(def, { store: world.store, sql: world.sql });
    await p.caughtUpTo(head);
    await p.stop();
    const first = await snapshot();
    expect(first.length).toBeGreaterThan(30);
    for (const r of first) expect(payloadErrors(r.type, JSON.parse(r.payload))).toEqual([]);
    expect(new Set(first.map((r) => r.id)).size).toBe(first.length);

    // Personal data: the phone and address only in order.placed; internal fields nowhere.
    for (const r of first) {
      const personal = /\+919800000001|MG Road/.test(r.payload);
      expect(personal, r.type).toBe(r.type === "commerce.order.placed.v1");
      expect(r.payload).not.toMatch(/paymentUrl|gatewayEventId|internal note|refundDue":null|actor/);
    }

    // Replay: the published rows are gone (as after the relay), the translator starts over.
    await world.sql.query("DELETE FROM outbox");
    await resetTranslator(world.sql);
    p = await startProcessor(def, { store: world.store, sql: world.sql });
    await p.caughtUpTo(head);
    await p.stop();
    expect(await snapshot()).toEqual(first);
  });

  it("in capture mode (Debezium, or nothing configured) the outbox stays empty", async () => {
    await world.sql.query("DELETE FROM outbox");
    await resetTranslator(world.sql);
    const p = await startProcessor(translatorDefinition({ mode: "capture", name: "integration/capture-test" }), {
      store: world.store,
      sql: world.sql,
    });
    await p.caughtUpTo(await world.store.headCheckpoint());
    await p.stop();
    const { rows } = await world.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox");
    expect(rows[0]?.n).toBe(0);
  });
});
