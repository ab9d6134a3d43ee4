// Checkpointed processors on PGlite and on real PostgreSQL: atomic checkpoints, retry then park,
// resume after a stop, and read-your-writes waiting.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEventStore, type EventStore, type NewEvent, type RecordedEvent } from "../../src/eventstore/index.js";
import { createPgClient } from "../../src/infrastructure/sql/pg-client.js";
import { createPgliteClient } from "../../src/infrastructure/sql/pglite-client.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import {
  CHECKPOINT_IDLE_SAVE_MS,
  listParked,
  loadCheckpoint,
  retryParked,
  startProcessor,
  type ProcessorDefinition,
} from "../../src/processing/processor.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { missing, server } from "../support/env.js";

const event = (type: string, data: NewEvent["data"]): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: { correlationId: "c", causationId: "c", actor: "test" },
});
const fast = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 };

function processorSuite(name: string, open: () => Promise<{ sql: SqlClient; teardown(): Promise<void> }>) {
  describe(`processors on ${name}`, () => {
    let sql: SqlClient;
    let store: EventStore;
    let teardown: () => Promise<void>;
    beforeAll(async () => {
      ({ sql, teardown } = await open());
      store = await openEventStore({ sql, pollIntervalMs: 10 });
    });
    afterAll(async () => {
      await store?.close();
      await teardown?.();
    });

    /** A tiny SQL projection: one row per stream with a running total. */
    const totals = async (category: string, fail?: (e: RecordedEvent) => boolean) => {
      const table = `totals_${category}`;
      await sql.exec(`CREATE TABLE IF NOT EXISTS ${table} (stream_id text PRIMARY KEY, total int NOT NULL, revision int NOT NULL)`);
      const definition: ProcessorDefinition = {
        name: `totals-${category}`,
        filter: { streamCategories: [category] },
        mode: "transactional",
        batchSize: 5,
        async handle(e, { sql: tx }) {
          await tx.query(
            `INSERT INTO ${table} (stream_id, total, revision) VALUES ($1, $2, $3)
             ON CONFLICT (stream_id) DO UPDATE SET total = ${table}.total + excluded.total, revision = excluded.revision WHERE ${table}.revision < excluded.revision`,
            [e.streamId, (e.data as { amount: number }).amount, e.revision],
          );
          if (fail?.(e)) throw new Error(`cannot project ${e.type}`);
        },
      };
      return { table, definition };
    };

    it("projects every event once and stores the checkpoint with the rows", async () => {
      const category = `p${randomUUID().slice(0, 6)}`;
      const { table, definition } = await totals(category);
      for (let i = 0; i < 12; i++) await store.appendToStream(`${category}-${i % 3}`, [event("Added", { amount: i })]);
      const processor = await startProcessor(definition, { store, sql, retry: fast });
      const last = await store.appendToStream(`${category}-0`, [event("Added", { amount: 100 })]);
      await processor.caughtUpTo(last.position);
      await processor.stop();
      const { rows } = await sql.query<{ stream_id: string; total: number }>(`SELECT stream_id, total FROM ${table} ORDER BY stream_id`);
      expect(rows).toEqual([
        { stream_id: `${category}-0`, total: 0 + 3 + 6 + 9 + 100 },
        { stream_id: `${category}-1`, total: 1 + 4 + 7 + 10 },
        { stream_id: `${category}-2`, total: 2 + 5 + 8 + 11 },
      ]);
      expect(await loadCheckpoint(sql, definition.name)).toBe(last.position);

      // Restarted, it resumes from its checkpoint: only the new event is applied.
      const more = await store.appendToStream(`${category}-1`, [event("Added", { amount: 1000 })]);
      const again = await startProcessor(definition, { store, sql, retry: fast });
      await again.caughtUpTo(more.position);
      await again.stop();
      const after = await sql.query<{ total: number }>(`SELECT total FROM ${table} WHERE stream_id = $1`, [`${category}-1`]);
      expect(after.rows[0]!.total).toBe(1 + 4 + 7 + 10 + 1000);
    });

    it("retries a failing event, parks it with its error, moves on, and can replay it once fixed", async () => {
      const category = `p${randomUUID().slice(0, 6)}`;
      let broken = true;
      const { table, definition } = await totals(category, (e) => broken && e.type === "Poison");
      await store.appendToStream(`${category}-a`, [event("Added", { amount: 1 })]);
      await store.appendToStream(`${category}-b`, [event("Poison", { amount: 50 })]);
      const last = await store.appendToStream(`${category}-a`, [event("Added", { amount: 2 })]);
      const processor = await startProcessor(definition, { store, sql, retry: fast });
      await processor.caughtUpTo(last.position);
      const parked = await listParked(sql, definition.name);
      expect(parked).toHaveLength(1);
      expect(parked[0]).toMatchObject({ streamId: `${category}-b`, type: "Poison", attempts: 3, error: "Error: cannot project Poison" });
      expect((await processor.status()).parked).toBe(1);
      // The poison event's row change rolled back; the others were applied.
      const rows = async () =>
        (await sql.query<{ stream_id: string; total: number }>(`SELECT stream_id, total FROM ${table} ORDER BY stream_id`)).rows;
      expect(await rows()).toEqual([{ stream_id: `${category}-a`, total: 3 }]);

      broken = false;
      await retryParked({ store, sql }, definition, parked[0]!.id);
      expect(await listParked(sql, definition.name)).toEqual([]);
      expect(await rows()).toEqual([
        { stream_id: `${category}-a`, total: 3 },
        { stream_id: `${category}-b`, total: 50 },
      ]);
      await processor.stop();
    });

    it("delivers at least once in at-least-once mode and resumes after a stop without losing events", async () => {
      const category = `p${randomUUID().slice(0, 6)}`;
      const seen: string[] = [];
      const definition: ProcessorDefinition = {
        name: `seen-${category}`,
        filter: { streamCategories: [category] },
        mode: "at-least-once",
        async handle(e) {
          seen.push(e.id);
        },
      };
      const appended: string[] = [];
      const append = async (n: number) => {
        let position = "";
        for (let i = 0; i < n; i++) {
          const e = event("Seen", { i });
          position = (await store.appendToStream(`${category}-${i % 2}`, [e])).position;
          appended.push(e.id);
        }
        return position;
      };
      const first = await startProcessor(definition, { store, sql, retry: fast });
      await first.caughtUpTo(await append(7));
      await first.stop();
      const last = await append(5);
      const second = await startProcessor(definition, { store, sql, retry: fast });
      await second.caughtUpTo(last);
      expect((await second.status()).caughtUp).toBe(true);
      await second.stop();
      expect(seen).toEqual(appended);
    });

    it("a crash between a batch's effects and its checkpoint re-delivers the whole batch: every event handled, none lost, the repeats are the crashed batch", async () => {
      const category = `p${randomUUID().slice(0, 6)}`;
      const seen: string[] = [];
      const definition: ProcessorDefinition = {
        name: `crashy-${category}`,
        filter: { streamCategories: [category] },
        mode: "at-least-once",
        batchSize: 4,
        orderingKey: (e) => e.streamId,
        async handle(e) {
          seen.push(e.id);
        },
      };
      const ids: string[] = [];
      let last = "";
      for (let i = 0; i < 10; i++) {
        const e = event("Seen", { i });
        ids.push(e.id);
        last = (await store.appendToStream(`${category}-${i % 3}`, [e])).position;
      }
      let crashed: string[] | undefined;
      const crashing = await startProcessor(definition, {
        store,
        sql,
        retry: fast,
        beforeCheckpoint: (_name, events) => {
          // The second batch: its effects are done, its checkpoint is not stored.
          if (crashed === undefined && seen.length > 4) {
            crashed = events.map((e) => e.id);
            throw new Error("killed before the checkpoint");
          }
        },
      });
      await new Promise<void>((resolve) => {
        const check = () => (crashed ? resolve() : setTimeout(check, 10));
        check();
      });
      await crashing.stop();
      const stored = await loadCheckpoint(sql, definition.name);
      const again = await startProcessor(definition, { store, sql, retry: fast });
      await again.caughtUpTo(last);
      await again.stop();
      // Every event at least once; exactly the crashed batch (and whatever was in flight after it) seen twice.
      expect(new Set(seen)).toEqual(new Set(ids));
      const twice = seen.filter((id, i) => seen.indexOf(id) !== i);
      expect(twice.length).toBeGreaterThanOrEqual(crashed!.length);
      for (const id of crashed!) expect(twice).toContain(id);
      expect(stored < (await loadCheckpoint(sql, definition.name))).toBe(true);
      // Per stream, the order of first deliveries is log order.
      for (let s = 0; s < 3; s++) {
        const mine = ids.filter((_, i) => i % 3 === s);
        expect(seen.filter((id) => mine.includes(id)).filter((id, i, all) => all.indexOf(id) === i)).toEqual(mine);
      }
    });

    it("keyed events of one batch run side by side, one key strictly in order, and the checkpoint is stored once per batch", async () => {
      const category = `p${randomUUID().slice(0, 6)}`;
      const order: string[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      const checkpoints: string[] = [];
      const definition: ProcessorDefinition = {
        name: `keyed-${category}`,
        filter: { streamCategories: [category] },
        mode: "at-least-once",
        batchSize: 50,
        orderingKey: (e) => e.streamId,
        concurrency: 8,
        async handle(e) {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((r) => setTimeout(r, 5 + ((e.data as { i: number }).i % 3) * 5));
          order.push(`${e.streamId}:${(e.data as { i: number }).i}`);
          inFlight--;
        },
      };
      // Two "partitions" of streams interleaved in the log.
      const appends = Array.from({ length: 40 }, (_, i) => ({ streamId: `${category}-${i % 8}`, events: [event("Step", { i })] }));
      const before = await store.headCheckpoint();
      let last = "";
      for (let i = 0; i < appends.length; i += 8) last = (await store.appendToStreams(appends.slice(i, i + 8))).at(-1)!.position;
      expect(before < last).toBe(true);
      const processor = await startProcessor(definition, {
        store,
        sql,
        retry: fast,
        beforeCheckpoint: (_n, _e, c) => void checkpoints.push(c),
      });
      await processor.caughtUpTo(last);
      await processor.stop();
      expect(order).toHaveLength(40);
      for (let s = 0; s < 8; s++) {
        const mine = order.filter((o) => o.startsWith(`${category}-${s}:`)).map((o) => Number(o.split(":")[1]));
        expect(mine).toEqual([...mine].sort((a, b) => a - b));
      }
      expect(maxInFlight).toBeGreaterThan(1);
      expect(checkpoints.length).toBeLessThanOrEqual(Math.ceil(40 / 50) + 1);
      expect(await loadCheckpoint(sql, definition.name)).toBe(checkpoints.at(-1));
    });

    it("stores its checkpoint past events outside its filter once the log is quiet, even when they came right after a save", async () => {
      const category = `p${randomUUID().slice(0, 6)}`;
      const definition: ProcessorDefinition = {
        name: `quiet-${category}`,
        filter: { streamCategories: [category] },
        mode: "at-least-once",
        async handle() {},
      };
      const processor = await startProcessor(definition, { store, sql, retry: fast });
      const mine = await store.appendToStream(`${category}-1`, [event("Added", { amount: 1 })]);
      await processor.caughtUpTo(mine.position, 20_000);
      // Within CHECKPOINT_IDLE_SAVE_MS of the save that came with the handled event, then nothing more.
      const elsewhere = await store.appendToStream(`other${category}-1`, [event("Unrelated", { amount: 1 })]);
      await processor.caughtUpTo(elsewhere.position, 20_000);
      let stored = await loadCheckpoint(sql, definition.name);
      for (let i = 0; i < 100 && stored < elsewhere.position; i++) {
        await new Promise((r) => setTimeout(r, 50));
        stored = await loadCheckpoint(sql, definition.name);
      }
      expect(stored >= elsewhere.position).toBe(true);
      await processor.stop();
    });

    it("passing a steady trickle of events outside its filter, it stores its checkpoint at most once per CHECKPOINT_IDLE_SAVE_MS, and the last one once quiet", async () => {
      const category = `p${randomUUID().slice(0, 6)}`;
      let saves = 0;
      const counted: SqlClient = {
        dialect: sql.dialect,
        query: (text, params) => {
          if (text.includes("INSERT INTO processor_checkpoints")) saves++;
          return sql.query(text, params);
        },
        exec: (script) => sql.exec(script),
        copyIn: (table, columns, text) => sql.copyIn(table, columns, text),
        transaction: (work) => sql.transaction(work),
        close: () => sql.close(),
      };
      const definition: ProcessorDefinition = {
        name: `trickle-${category}`,
        filter: { streamCategories: [category] },
        mode: "at-least-once",
        async handle() {},
      };
      const processor = await startProcessor(definition, { store, sql: counted, retry: fast });
      await processor.caughtUpTo(await store.headCheckpoint(), 20_000);
      saves = 0;
      // Each append wakes the processor, which passes it and finds the log quiet again: before,
      // every one of those quiet moments stored the checkpoint.
      const startedAt = performance.now();
      let last = await store.appendToStream(`other${category}-1`, [event("Unrelated", { amount: 0 })]);
      for (let i = 1; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 40));
        last = await store.appendToStream(`other${category}-1`, [event("Unrelated", { amount: i })]);
        await processor.caughtUpTo(last.position, 20_000);
      }
      const elapsedMs = performance.now() - startedAt;
      let stored = await loadCheckpoint(sql, definition.name);
      for (let i = 0; i < 100 && stored < last.position; i++) {
        await new Promise((r) => setTimeout(r, 50));
        stored = await loadCheckpoint(sql, definition.name);
      }
      expect(stored >= last.position).toBe(true);
      // The bound follows the time it took (a slow machine allows more), not a timing.
      expect(saves).toBeLessThanOrEqual(Math.ceil(elapsedMs / CHECKPOINT_IDLE_SAVE_MS) + 2);
      await processor.stop();
    });

    it("reports caught up to positions of events outside its filter", async () => {
      const category = `p${randomUUID().slice(0, 6)}`;
      const { definition } = await totals(category);
      const processor = await startProcessor(definition, { store, sql, retry: fast });
      const elsewhere = await store.appendToStream(`other${category}-1`, [event("Unrelated", { amount: 1 })]);
      await processor.caughtUpTo(elsewhere.position, 20_000);
      await processor.stop();
    });
  });
}

processorSuite("PGlite", async () => {
  const sql = await createPgliteClient();
  return { sql, teardown: () => sql.close() };
});

describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  let database: TestDatabase;
  processorSuite("PostgreSQL", async () => {
    database = await createTestDatabase();
    const sql = createPgClient({ connectionString: database.url });
    return {
      sql,
      teardown: async () => {
        await sql.close();
        await database.drop();
      },
    };
  });
});
