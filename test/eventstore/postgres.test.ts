// The contract on real PostgreSQL, plus what only a real server with real concurrent
// connections can prove: per-stream concurrency control and a subscription that never skips an
// event whose transaction commits late.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresEventStore, START, WrongExpectedVersionError, type NewEvent, type RecordedEvent } from "../../src/eventstore/index.js";
import { encodeCheckpoint } from "../../src/eventstore/postgres/postgres-event-store.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";
import { eventStoreContract, untilVisible } from "./contract.js";

const databaseUrl = server("DATABASE_URL");

describe.skipIf(missing(databaseUrl))("PostgreSQL event store", () => {
  let database: TestDatabase;
  let sql: SqlClient;
  beforeAll(async () => {
    database = await createTestDatabase();
    sql = createPgClient({ connectionString: database.url, max: 60 });
  });
  afterAll(async () => {
    await sql?.close();
    await database?.drop();
  });

  eventStoreContract("PostgreSQL", {
    open: (options) => PostgresEventStore.open(sql, { upcasters: options?.upcasters, pollIntervalMs: 20 }),
  });

  const event = (data: NewEvent["data"] = {}): NewEvent => ({
    id: randomUUID(),
    type: "Raced",
    data,
    metadata: { correlationId: "c", causationId: "c", actor: "test:race" },
  });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("reads recordedAt as the stored timestamp to the millisecond, by stream and across the log", async () => {
    const store = await PostgresEventStore.open(sql);
    const stream = `recorded-${randomUUID()}`;
    await store.appendToStream(stream, [event(), event()]);
    const { rows } = await sql.query<{ at: Date }>(
      "SELECT date_trunc('milliseconds', recorded_at) AS at FROM es_events WHERE stream_id = $1 ORDER BY stream_revision",
      [stream],
    );
    const byStream = await store.readStream(stream);
    expect(byStream.map((e) => e.recordedAt.toISOString())).toEqual(rows.map((r) => r.at.toISOString()));
    const inLog = (await store.readAll({ maxCount: 100_000 })).events.filter((e) => e.streamId === stream);
    expect(inLog.map((e) => e.recordedAt.toISOString())).toEqual(rows.map((r) => r.at.toISOString()));
  });

  it("lets exactly one of 50 concurrent appends at the same expected revision through", async () => {
    const store = await PostgresEventStore.open(sql);
    const stream = `race-${randomUUID()}`;
    await store.appendToStream(stream, [event()]);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => store.appendToStream(stream, [event({ writer: i })], { expectedRevision: 0 })),
    );
    const won = outcomes.filter((o) => o.status === "fulfilled");
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(49);
    for (const loss of lost) expect(loss.reason).toBeInstanceOf(WrongExpectedVersionError);
    expect(lost.every((l) => (l.reason as WrongExpectedVersionError).actual === 1)).toBe(true);
    expect(await store.readStream(stream)).toHaveLength(2);
  });

  it("multi-stream appends racing on overlapping streams: each stream's revisions stay gapless, every loser wrote nothing, and no deadlock", async () => {
    const store = await PostgresEventStore.open(sql);
    const streams = Array.from({ length: 4 }, (_, i) => `race-${randomUUID()}-${i}`);
    for (const s of streams) await store.appendToStream(s, [event()]);
    // 40 writers, each at the revisions it last read, over two or three of the streams in varying order.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, async (_, w) => {
        const mine = [streams[w % 4]!, streams[(w + 1) % 4]!, ...(w % 3 === 0 ? [streams[(w + 2) % 4]!] : [])];
        if (w % 2 === 1) mine.reverse();
        const read = await store.readStreams(mine);
        return store.appendToStreams(
          mine.map((s) => ({ streamId: s, events: [event({ writer: w })], expectedRevision: read.get(s)!.at(-1)!.revision })),
        );
      }),
    );
    const won = outcomes.filter((o) => o.status === "fulfilled").length;
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
    expect(won).toBeGreaterThanOrEqual(1);
    for (const loss of lost) expect(loss.reason).toBeInstanceOf(WrongExpectedVersionError);
    const all = await store.readStreams(streams);
    // Every event is from a winner (losers wrote nothing), and each winner's events landed in all its streams.
    const writers = new Map<number, number>();
    for (const s of streams) {
      const stored = all.get(s)!;
      expect(stored.map((e) => e.revision)).toEqual(stored.map((_, i) => i));
      for (const e of stored.slice(1))
        writers.set((e.data as { writer: number }).writer, (writers.get((e.data as { writer: number }).writer) ?? 0) + 1);
    }
    expect(writers.size).toBe(won);
    for (const [w, n] of writers) expect(n).toBe(w % 3 === 0 ? 3 : 2);
  });

  it("lets exactly one of 50 concurrent no_stream appends create a stream", async () => {
    const store = await PostgresEventStore.open(sql);
    const stream = `race-${randomUUID()}`;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, () => store.appendToStream(stream, [event()], { expectedRevision: "no_stream" })),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    expect(await store.readStream(stream)).toHaveLength(1);
  });

  it("does not show an event to readers while an older transaction is still open", async () => {
    const store = await PostgresEventStore.open(sql);
    const marker = await store.appendToStream(`late-${randomUUID()}`, [event()]);
    await untilVisible(store, marker.position);
    const head = marker.position;
    const slow = event({ slow: true });
    const fast = event({ fast: true });
    let releaseSlow!: () => void;
    let slowAppended!: () => void;
    const slowHasAppended = new Promise<void>((resolve) => (slowAppended = resolve));
    const slowCommitted = sql.transaction(async (tx) => {
      await tx.query("SELECT * FROM es_append($1, 'any', $2::jsonb)", [
        `late-${randomUUID()}`,
        JSON.stringify([{ ...slow, schemaVersion: 1 }]),
      ]);
      slowAppended();
      await new Promise<void>((resolve) => (releaseSlow = resolve));
    });
    // The slow transaction holds its id and its appended row, uncommitted, before the fast one starts.
    await slowHasAppended;
    const fastAppended = await store.appendToStream(`late-${randomUUID()}`, [fast]);
    expect((await store.readAll({ from: head })).events.map((e) => e.id)).not.toContain(fast.id);
    releaseSlow();
    await slowCommitted;
    await untilVisible(store, fastAppended.position);
    const visible = (await store.readAll({ from: head })).events.map((e) => e.id);
    expect(visible.indexOf(slow.id)).toBeGreaterThanOrEqual(0);
    expect(visible.indexOf(slow.id)).toBeLessThan(visible.indexOf(fast.id));
  });

  it("refuses an append that is not the first write of its transaction (stream order would break)", async () => {
    await expect(
      sql.transaction(async (tx) => {
        await tx.query("SELECT pg_current_xact_id()");
        await tx.query("SELECT * FROM es_append($1, 'any', $2::jsonb)", [
          `late-${randomUUID()}`,
          JSON.stringify([{ ...event(), schemaVersion: 1 }]),
        ]);
      }),
    ).rejects.toMatchObject({ code: "ES001" });
  });

  it("delivers every committed event exactly once, in order, to a live subscriber and to one restarted from its checkpoint, across 8 racing writers", async () => {
    const store = await PostgresEventStore.open(sql, { pollIntervalMs: 10 });
    const target = 20_000;
    const runId = randomUUID().slice(0, 8);
    const category = `sub${runId}`;
    const streams = Array.from({ length: 24 }, (_, i) => `${category}-${i}`);
    const filter = { streamCategories: [category] };

    const continuous: RecordedEvent[] = [];
    const steady = store.subscribeToAll({ filter, batchSize: 300 }, async (batch) => {
      continuous.push(...batch);
    });

    // A subscriber that stops after a random number of batches and starts again from the last
    // checkpoint it recorded, several times while the writers run.
    const restarted: RecordedEvent[] = [];
    let stored = START;
    let restarts = 0;
    let stopRestarting = false;
    const restartingLoop = (async () => {
      while (!stopRestarting) {
        let batches = 0;
        const limit = 1 + Math.floor(Math.random() * 8);
        let reachedLimit!: () => void;
        const limitReached = new Promise<void>((resolve) => (reachedLimit = resolve));
        const subscription = store.subscribeToAll(
          { from: stored, filter, batchSize: 1 + Math.floor(Math.random() * 200) },
          async (batch, checkpoint) => {
            restarted.push(...batch);
            stored = checkpoint;
            if (++batches >= limit) reachedLimit();
          },
        );
        await Promise.race([limitReached, sleep(300)]);
        await subscription.stop();
        restarts++;
      }
    })();

    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    let written = 0;
    const writer = async (w: number) => {
      while (written < target) {
        const batch = Array.from({ length: 1 + Math.floor(Math.random() * 5) }, () => event({ w }));
        const stream = streams[Math.floor(Math.random() * streams.length)]!;
        const roll = Math.random();
        if (roll < 0.05) {
          // Hold the transaction open 50–500 ms before deciding; a third of those roll back.
          const rollback = roll < 0.0167;
          try {
            await sql.transaction(async (tx) => {
              await tx.query("SELECT * FROM es_append($1, 'any', $2::jsonb)", [
                stream,
                JSON.stringify(batch.map((e) => ({ ...e, schemaVersion: 1 }))),
              ]);
              await sleep(50 + Math.random() * 450);
              if (rollback) throw new Error("rollback");
            });
            for (const e of batch) committed.add(e.id);
            written += batch.length;
          } catch {
            for (const e of batch) rolledBack.add(e.id);
          }
        } else {
          await store.appendToStream(stream, batch);
          for (const e of batch) committed.add(e.id);
          written += batch.length;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    // Everything committed becomes readable once no older transaction runs anywhere on the server.
    const { rows } = await sql.query<{ transaction_id: string; global_position: string }>(
      "SELECT transaction_id::text AS transaction_id, global_position::text AS global_position FROM es_events ORDER BY es_events.transaction_id DESC, es_events.global_position DESC LIMIT 1",
    );
    const head = encodeCheckpoint(rows[0]!.transaction_id, rows[0]!.global_position);
    await untilVisible(store, head, 60_000);
    await steady.caughtUpTo!(head);
    stopRestarting = true;
    await restartingLoop;
    const final = store.subscribeToAll({ from: stored, filter }, async (batch, checkpoint) => {
      restarted.push(...batch);
      stored = checkpoint;
    });
    await final.caughtUpTo!(head);
    await final.stop();
    await steady.stop();

    expect(committed.size).toBeGreaterThanOrEqual(target);
    expect(rolledBack.size).toBeGreaterThan(0);
    expect(restarts).toBeGreaterThan(1);
    const ids = continuous.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length); // exactly once
    expect(new Set(ids)).toEqual(committed); // every committed event, nothing rolled back
    expect(ids.some((id) => rolledBack.has(id))).toBe(false);
    const lastRevision = new Map<string, number>();
    for (const e of continuous) {
      expect(e.revision).toBe((lastRevision.get(e.streamId) ?? -1) + 1); // each stream in revision order, no gaps
      lastRevision.set(e.streamId, e.revision);
    }
    expect(restarted.map((e) => e.id)).toEqual(ids); // the restarted subscriber saw exactly the same sequence
  }, 180_000);
});
