// The command batch (what a saga step writes) over snapshots, on embedded PGlite: loadTargets
// starts each inventory stream from its snapshot, decides over the same state as a full fold, skips
// a command applied since the snapshot before, and an older command issued again writes nothing:
// its derived event ids are already in the stream.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asEvent, fold } from "../../src/aggregates/decider.js";
import { inventoryDecider, streamId as inventoryStream, type InventoryCommand } from "../../src/aggregates/inventory.js";
import { decideBatch, loadTargets, type BatchedCommand } from "../../src/commands/command-batch.js";
import { handleCommand } from "../../src/commands/handle-command.js";
import { EventIdConflictError, openSqlClient, PostgresEventStore, type EventStore } from "../../src/eventstore/index.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";

const at = "2026-01-01T10:00:00.000Z";
const expiresAt = "2026-01-01T10:15:00.000Z";
const meta = { correlationId: "c-1", actor: "saga:order" };

let sql: SqlClient;
beforeAll(async () => {
  sql = await openSqlClient({});
});
afterAll(() => sql?.close());

function stock() {
  const sku = `BATCH-${randomUUID().slice(0, 8)}`;
  const streamId = inventoryStream(sku, "W1");
  const command = (body: Record<string, unknown>) => ({ sku, warehouseId: "W1", at, ...body }) as InventoryCommand;
  const run = (store: EventStore, body: Record<string, unknown>, commandId: string = randomUUID()) =>
    handleCommand(store, inventoryDecider, { streamId, commandId, actor: "test", command: command(body) });
  const batched = (commandId: string, body: Record<string, unknown>): BatchedCommand => ({
    decider: inventoryDecider,
    streamId,
    command: command(body),
    commandId,
  });
  return { streamId, run, batched };
}

const fullFold = async (store: EventStore, streamId: string) => fold(inventoryDecider, (await store.readStream(streamId)).map(asEvent));

async function untilSnapshot(streamId: string, atLeast: number) {
  for (let i = 0; i < 200; i++) {
    const { rows } = await sql.query<{ revision: string }>("SELECT revision::text AS revision FROM es_snapshots WHERE stream_id = $1", [
      streamId,
    ]);
    if (rows.some((r) => Number(r.revision) >= atLeast)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no snapshot of ${streamId} at ${atLeast} or later`);
}

describe("command batch over snapshots", () => {
  it("loads from the snapshot, decides as over the full fold, and skips a command applied since the snapshot before", async () => {
    const writer = await PostgresEventStore.open(sql, { snapshotEvery: 5 });
    const { streamId, run, batched } = stock();
    await run(writer, { type: "ReceiveStock", quantity: 100 });
    await run(writer, { type: "ReserveStock", orderId: "o-x", quantity: 3, expiresAt }, "reserve-x"); // revision 1
    for (let i = 0; i < 11; i++) await run(writer, { type: "ReserveStock", orderId: `o-${i}`, quantity: 1, expiresAt }, `res-${i}`);
    await untilSnapshot(streamId, 9); // snapshots at 4 and 9; reserve-x (revision 1) is listed by the one at 4, not by the one at 9

    const reader = await PostgresEventStore.open(sql, { snapshotEvery: 5 });
    const loaded = await loadTargets(reader, [batched("", {})]);
    const stream = loaded.get(streamId)!;
    expect(stream.state).toEqual(await fullFold(writer, streamId));
    expect(stream.revision).toBe(12);
    // The commands of the events after the snapshot at 9 and those the snapshot lists (revisions 5-9).
    expect(stream.causations.size).toBe(8);

    // res-5 (revision 7) is before the snapshot at 9, among the commands it lists: skipped, as over the full stream.
    expect(decideBatch([batched("res-5", { type: "ReleaseReservation", orderId: "o-5" })], loaded, meta).appends).toEqual([]);

    const commitFresh = batched("commit-3", { type: "CommitReservation", orderId: "o-3" });
    const { appends } = decideBatch([commitFresh], loaded, meta);
    await reader.appendToStreams(appends);
    expect((await fullFold(writer, streamId)).reservations.get("o-3")?.status).toBe("COMMITTED");

    // reserve-x is older than what the snapshot lists: decided again, but its derived event ids are
    // already in the stream, so the store writes nothing (the whole batch: appended false; a
    // partly stored batch: EventIdConflictError). Nothing is applied twice.
    const reloaded = await loadTargets(reader, [batched("", {})]);
    const again = decideBatch([batched("reserve-x", { type: "ReceiveStock", quantity: 5 })], reloaded, meta);
    expect(await reader.appendToStreams(again.appends)).toEqual([expect.objectContaining({ appended: false })]);
    const twice = decideBatch(
      [batched("reserve-x", { type: "ReceiveStock", quantity: 5 }), batched("receive-new", { type: "ReceiveStock", quantity: 7 })],
      reloaded,
      meta,
    );
    await expect(reader.appendToStreams(twice.appends)).rejects.toBeInstanceOf(EventIdConflictError);
    expect((await fullFold(writer, streamId)).received).toBe(100);
  });
});
