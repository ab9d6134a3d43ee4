// Durable deadlines: scheduled once, cancelled when their step completes, fired once when due
// (a crash between the append and the "fired" mark re-fires with the same event id: one event),
// and they survive a restart. PGlite always; PostgreSQL when DATABASE_URL is set.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openEventStore, openSqlClient, type EventStore } from "../../src/eventstore/index.js";
import type { SqlClient } from "../../src/infrastructure/sql/sql-client.js";
import {
  cancelDeadline,
  cancelDeadlines,
  deadlineEventId,
  dueDeadlines,
  fireDeadline,
  getDeadline,
  migrateScheduling,
  scheduleDeadline,
  scheduleDeadlines,
  startScheduler,
} from "../../src/scheduling/deadlines.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

const backends = process.env.DATABASE_URL ? (["pglite", "postgres"] as const) : (["pglite"] as const);

describe.each(backends)("deadlines (%s)", (backend) => {
  let sql: SqlClient;
  let store: EventStore;
  let db: TestDatabase | undefined;
  let t = Date.parse("2026-03-01T10:00:00.000Z");
  const clock = { now: () => new Date(t) };

  beforeEach(async () => {
    if (backend === "postgres") {
      db = await createTestDatabase();
      sql = await openSqlClient({ databaseUrl: db.url });
    } else sql = await openSqlClient({});
    store = await openEventStore({ sql, pollIntervalMs: 20 });
    await migrateScheduling(sql);
    t = Date.parse("2026-03-01T10:00:00.000Z");
  });
  afterEach(async () => {
    await store.close();
    await sql.close();
    await db?.drop();
    db = undefined;
  });

  const d = (id: string, dueInMs: number) => ({
    deadlineId: id,
    streamId: `timers-${id.replace(/\W/g, "")}`,
    payload: { orderId: id, kind: "paymentTimeout" },
    dueAt: new Date(t + dueInMs),
  });

  it("fires a due deadline once, as DeadlineReached with a deterministic id, and not before it is due", async () => {
    const scheduler = await startScheduler({ store, sql, clock, autoStart: false });
    await scheduleDeadline(sql, d("a", 1_000));
    expect(await scheduler.tick()).toBe(0);
    t += 1_000;
    expect(await scheduler.tick()).toBe(1);
    expect(await scheduler.tick()).toBe(0);
    const events = await store.readStream("timers-a");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      id: deadlineEventId("a"),
      type: "DeadlineReached",
      data: { orderId: "a", kind: "paymentTimeout", deadlineId: "a", dueAt: "2026-03-01T10:00:01.000Z" },
    });
    expect((await getDeadline(sql, "a"))?.status).toBe("FIRED");
    await scheduler.stop();
  });

  it("scheduling the same id again changes nothing (not even a cancelled one)", async () => {
    await scheduleDeadline(sql, d("b", 1_000));
    await scheduleDeadline(sql, d("b", 99_000));
    expect((await getDeadline(sql, "b"))?.dueAt).toBe("2026-03-01T10:00:01.000Z");
    await cancelDeadline(sql, "b", clock.now());
    await scheduleDeadline(sql, d("b", 1_000));
    expect((await getDeadline(sql, "b"))?.status).toBe("CANCELLED");
  });

  it("a step's deadlines are scheduled and cancelled together: each as if alone", async () => {
    const scheduler = await startScheduler({ store, sql, clock, autoStart: false });
    await scheduleDeadline(sql, d("m1", 1_000));
    await scheduleDeadlines(sql, [d("m1", 99_000), d("m2", 2_000), { ...d("m3", 3_000), eventType: "TimerRang" }]);
    expect((await getDeadline(sql, "m1"))?.dueAt).toBe("2026-03-01T10:00:01.000Z"); // already there: unchanged
    expect(await getDeadline(sql, "m3")).toMatchObject({ eventType: "TimerRang", payload: { orderId: "m3", kind: "paymentTimeout" } });
    t += 1_000;
    expect(await scheduler.tick()).toBe(1); // m1 fires
    await cancelDeadlines(sql, ["m1", "m2", "unknown"], clock.now());
    expect((await getDeadline(sql, "m1"))?.status).toBe("FIRED"); // a fired one stays fired
    expect((await getDeadline(sql, "m2"))?.status).toBe("CANCELLED");
    t += 5_000;
    expect(await scheduler.tick()).toBe(1); // m3 only
    expect((await store.readStream("timers-m3")).map((e) => e.type)).toEqual(["TimerRang"]);
    await scheduleDeadlines(sql, []);
    await cancelDeadlines(sql, [], clock.now());
    await scheduler.stop();
  });

  it("a cancelled deadline never fires", async () => {
    const scheduler = await startScheduler({ store, sql, clock, autoStart: false });
    await scheduleDeadline(sql, d("c", 1_000));
    await cancelDeadline(sql, "c", clock.now());
    t += 5_000;
    expect(await scheduler.tick()).toBe(0);
    expect(await store.readStream("timers-c")).toEqual([]);
    await scheduler.stop();
  });

  it("a crash between the append and the 'fired' mark re-fires with the same event id: still one event", async () => {
    await scheduleDeadline(sql, d("e", 0));
    const [due] = await dueDeadlines(sql, clock.now());
    // The crash: the event is appended, the row is not marked.
    await store.appendToStream(due!.streamId, [
      {
        id: deadlineEventId("e"),
        type: "DeadlineReached",
        data: { ...due!.payload, deadlineId: "e", dueAt: due!.dueAt, firedAt: clock.now().toISOString() },
        metadata: { correlationId: "e", causationId: "deadline/e", actor: "scheduler" },
      },
    ]);
    expect((await getDeadline(sql, "e"))?.status).toBe("PENDING");
    // After the restart the scheduler fires it again.
    const scheduler = await startScheduler({ store, sql, clock, autoStart: false });
    expect(await scheduler.tick()).toBe(1);
    expect(await store.readStream("timers-e")).toHaveLength(1);
    expect((await getDeadline(sql, "e"))?.status).toBe("FIRED");
    // Two schedulers firing the same deadline at once: one event.
    await scheduleDeadline(sql, d("f", 0));
    const [f] = await dueDeadlines(sql, clock.now());
    await Promise.all([fireDeadline({ store, sql }, f!, clock.now()), fireDeadline({ store, sql }, f!, clock.now())]);
    expect(await store.readStream("timers-f")).toHaveLength(1);
    await scheduler.stop();
  });

  it("survives a restart: a deadline scheduled before is fired by the next scheduler; the polling loop fires on its own", async () => {
    const first = await startScheduler({ store, sql, clock, autoStart: false });
    await scheduleDeadline(sql, d("g", 10_000));
    await first.stop();
    t += 10_000;
    const second = await startScheduler({ store, sql, clock, pollIntervalMs: 10 });
    for (let i = 0; i < 200 && (await getDeadline(sql, "g"))?.status !== "FIRED"; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await getDeadline(sql, "g"))?.status).toBe("FIRED");
    expect(await store.readStream("timers-g")).toHaveLength(1);
    await second.stop();
  });

  it("fires due deadlines in due order", async () => {
    const scheduler = await startScheduler({ store, sql, clock, autoStart: false });
    await scheduleDeadline(sql, { ...d("late", 3_000), streamId: "timers-order" });
    await scheduleDeadline(sql, { ...d("early", 1_000), streamId: "timers-order" });
    t += 5_000;
    expect(await scheduler.tick()).toBe(2);
    expect((await store.readStream("timers-order")).map((e) => (e.data as { deadlineId: string }).deadlineId)).toEqual(["early", "late"]);
    await scheduler.stop();
  });
});
