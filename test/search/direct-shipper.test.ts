// Shipping a batch's documents straight from the projector's fold: only what committed reaches
// Elasticsearch (a rolled-back batch's documents never do), at the versions the tables hold, and
// a batch whose process died before shipping it is still shipped from its search_shipments row.

import { randomBytes, randomUUID } from "node:crypto";
import { Client } from "@elastic/elasticsearch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NewEvent, RecordedEvent } from "../../src/eventstore/port.js";
import { migrateProjections } from "../../src/projections/index.js";
import { DirectShipper } from "../../src/projections/search/direct-shipper.js";
import { applyQueued, searchProjection, type Shipment } from "../../src/projections/search/documents.js";
import { SHIP_PAGE, shipPending } from "../../src/projections/search/shipper.js";
import { createProductIndex, ElasticsearchSearchEngine } from "../../src/search/elasticsearch/engine.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, type StoreWorld } from "../support/stores.js";

const url = server("ELASTICSEARCH_URL");
const meta = { correlationId: "t", causationId: "t", actor: "test" };

describe.skipIf(missing(url))("search documents shipped from memory", () => {
  const client = new Client({ node: url.value ?? "http://127.0.0.1:9200" });
  const index = `test-direct-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const engine = new ElasticsearchSearchEngine(client, index);
  let world: StoreWorld;

  beforeAll(async () => {
    world = await openPgliteWorld();
    await migrateProjections(world.sql, [searchProjection]);
    await createProductIndex(client, index);
  });
  afterAll(async () => {
    await client.indices.delete({ index, ignore_unavailable: true });
    await client.close();
    await world?.close();
  });

  const append = async (streamId: string, type: string, data: NewEvent["data"]): Promise<RecordedEvent[]> => {
    const from = await world.store.headCheckpoint();
    await world.store.appendToStream(streamId, [{ id: randomUUID(), type, data, metadata: meta }]);
    return (await world.store.readAll({ from, filter: searchProjection.filter })).events;
  };
  const created = (sku: string, price: number) =>
    append(`product-${sku}`, "ProductCreated", {
      sku,
      name: `Quiet Fan ${sku}`,
      category: ["Home"],
      brand: "Acme",
      price,
      currency: "INR",
      attributes: {},
      at: new Date().toISOString(),
    });
  const stored = async (sku: string) => {
    await engine.refresh();
    const hit = await client.get<{ price: number }>({ index, id: sku }).catch(() => undefined);
    return hit && { version: hit._version, price: hit._source?.price };
  };
  const queuedRows = async () => (await world.sql.query("SELECT * FROM search_shipments")).rows.length;
  /** A shipper whose batches pass when the test says so (the projector moving past them). */
  const shipper = () => {
    let pass!: () => void;
    const passed = new Promise<void>((resolve) => (pass = resolve));
    return { direct: new DirectShipper(world.sql, engine, index, () => passed), pass };
  };

  it("ships a committed batch from memory at the tables' versions and deletes its row; a rolled-back batch's documents never reach the index", async () => {
    const { direct, pass } = shipper();
    const first = [...(await created("D-1", 1_000)), ...(await created("D-2", 2_000))];
    await world.sql.transaction(async (tx) => direct.hand((await applyQueued(first, tx, "elasticsearch"))!));
    const price = await append("product-D-1", "ProductPriceChanged", {
      sku: "D-1",
      price: 1_500,
      previousPrice: 1_000,
      currency: "INR",
      at: "2026-01-02T00:00:00Z",
    });
    await world.sql
      .transaction(async (tx) => {
        direct.hand((await applyQueued(price, tx, "elasticsearch"))!);
        throw new Error("the batch fails after its writes");
      })
      .catch(() => undefined);
    pass();
    await direct.flush();

    expect(await stored("D-1")).toEqual({ version: 1, price: 1_000 });
    expect(await stored("D-2")).toEqual({ version: 1, price: 2_000 });
    expect(await queuedRows()).toBe(0);
    const { rows } = await world.sql.query<{ ship_pending: boolean }>("SELECT ship_pending FROM search_documents");
    expect(rows.every((r) => r.ship_pending === false)).toBe(true);

    // The same event applied again (the projector's retry) commits: version 2 goes out.
    const { direct: again, pass: passAgain } = shipper();
    await world.sql.transaction(async (tx) => again.hand((await applyQueued(price, tx, "elasticsearch"))!));
    passAgain();
    await again.flush();
    expect(await stored("D-1")).toEqual({ version: 2, price: 1_500 });
  });

  it("ships from the table a committed batch whose process died before shipping it, and only what is not held in memory", async () => {
    let shipment: Shipment | undefined;
    const events = await created("D-3", 3_000);
    await world.sql.transaction(async (tx) => void (shipment = await applyQueued(events, tx, "elasticsearch")));
    expect(await queuedRows()).toBe(1);

    // Held by an in-memory shipper of this process: left alone.
    expect(await shipPending(world.sql, engine, index, undefined, { held: () => [shipment!.tx] })).toBe(0);
    expect(await stored("D-3")).toBeUndefined();
    // Young rows are left to the shipper that queued them by a background pass, not by a drain.
    expect(await shipPending(world.sql, engine, index, undefined, { minAgeMs: 60_000 })).toBe(0);
    expect(await shipPending(world.sql, engine, index)).toBe(1);
    expect(await stored("D-3")).toEqual({ version: 1, price: 3_000 });
    expect(await queuedRows()).toBe(0);
  });

  it("sends a batch larger than one _bulk page in pages side by side, every document once at its version", async () => {
    const count = 2 * SHIP_PAGE + 1;
    const from = await world.store.headCheckpoint();
    await world.store.appendToStreams(
      Array.from({ length: count }, (_, i) => ({
        streamId: `product-P-${i}`,
        events: [
          {
            id: randomUUID(),
            type: "ProductCreated",
            data: {
              sku: `P-${i}`,
              name: `Paged Lamp ${i}`,
              category: ["Home"],
              brand: "Acme",
              price: 100 + i,
              currency: "INR",
              attributes: {},
              at: new Date().toISOString(),
            },
            metadata: meta,
          },
        ],
      })),
    );
    const events = (await world.store.readAll({ from, filter: searchProjection.filter, maxCount: count + 10 })).events;
    expect(events).toHaveLength(count);
    const { direct, pass } = shipper();
    await world.sql.transaction(async (tx) => direct.hand((await applyQueued(events, tx, "elasticsearch"))!));
    pass();
    await direct.flush();
    expect(direct.lastError).toBeNull();
    await engine.refresh();
    expect((await client.count({ index, query: { prefix: { sku: "P-" } } })).count).toBe(count);
    expect(await stored(`P-${count - 1}`)).toEqual({ version: 1, price: 100 + count - 1 });
    expect(await queuedRows()).toBe(0);
  });

  it("a reader's flush up to its position does not wait for a later batch still committing", async () => {
    const gates = new Map<string, () => void>();
    const direct = new DirectShipper(world.sql, engine, index, (position) => new Promise<void>((resolve) => gates.set(position, resolve)));
    const first = await created("D-4", 4_000);
    const second = await created("D-5", 5_000);
    const a = await world.sql.transaction(async (tx) => (await applyQueued(first, tx, "elasticsearch"))!);
    direct.hand(a);
    const b = await world.sql.transaction(async (tx) => (await applyQueued(second, tx, "elasticsearch"))!);
    direct.hand(b);
    gates.get(a.position)!();
    await direct.flush(a.position);
    expect(await stored("D-4")).toEqual({ version: 1, price: 4_000 });
    expect(await stored("D-5")).toBeUndefined();
    expect(direct.held()).toEqual([b.tx]);
    gates.get(b.position)!();
    await direct.flush();
    expect(await stored("D-5")).toEqual({ version: 1, price: 5_000 });
    await direct.stop();
  });
});
