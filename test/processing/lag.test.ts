// The order pipeline's lag (admission control measures it every 250 ms): its figures, and that it
// reads a few rows through indexes however long the log is.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PIPELINE_LAG_SQL, pipelineLag } from "../../src/processing/lag.js";
import { migrate } from "../../src/infrastructure/sql/migrations.js";
import { processingMigrations, saveCheckpoint } from "../../src/processing/processor.js";
import { untilVisible } from "../eventstore/contract.js";
import { missing, server } from "../support/env.js";
import { openPgliteWorld, openPostgresWorld, type StoreWorld } from "../support/stores.js";

type PlanNode = { "Relation Name"?: string; "Actual Rows": number; "Actual Loops": number; Plans?: PlanNode[] };

/** Every node of an analysed plan that reads es_events. */
function eventScans(explained: unknown): PlanNode[] {
  const walk = (node: PlanNode): PlanNode[] => [
    ...(node["Relation Name"] === "es_events" ? [node] : []),
    ...(node.Plans ?? []).flatMap(walk),
  ];
  return (explained as { Plan: PlanNode }[]).flatMap((root) => walk(root.Plan));
}

function lagSuite(label: string, open: () => Promise<StoreWorld>) {
  describe(`pipeline lag (${label})`, () => {
    let world: StoreWorld;
    beforeAll(async () => {
      world = await open();
      await migrate(world.sql, processingMigrations);
    });
    afterAll(async () => {
      await world?.close();
    });

    it("counts the events behind the slowest checkpoint, reading a long log through indexes", async () => {
      // A long log, appended as the app does (many transactions), so the plan is the one a busy shop gets.
      let last = "";
      for (let batch = 0; batch < 20; batch++)
        last = (
          await world.store.appendToStreams(
            Array.from({ length: 100 }, (_, s) => ({
              streamId: `lagtest-${batch}-${s}`,
              expectedRevision: "no_stream" as const,
              events: Array.from({ length: 10 }, (_, i) => ({
                id: randomUUID(),
                type: "Noted",
                data: { i },
                metadata: { correlationId: "lag-test", causationId: "lag-test", actor: "test" },
              })),
            })),
          )
        ).at(-1)!.position;
      await world.sql.query("ANALYZE es_events");
      // Another test file's open transaction can hold the last batches back for a moment (ADR 0001).
      await untilVisible(world.store, last);
      const { events } = await world.store.readAll({ maxCount: 30_000 });
      expect(events).toHaveLength(20_000);

      // One processor has handled three quarters of the log, another all of it: the slower one counts.
      const at = (i: number) => events[i]!.position;
      await world.sql.transaction(async (tx) => {
        await saveCheckpoint(tx, "lag-slow", at(14_999));
        await saveCheckpoint(tx, "lag-fast", at(19_999));
      });
      const behind = await pipelineLag(world.sql, ["lag-slow", "lag-fast"]);
      expect(behind).toMatchObject({ events: 5_000, slowest: "lag-slow" });
      expect(behind.seconds).toBeGreaterThanOrEqual(0);
      expect(behind.seconds).toBeLessThan(600);
      expect(await pipelineLag(world.sql, ["lag-fast"])).toEqual({ events: 0, seconds: 0, slowest: "lag-fast" });

      // Run, the plan reads one event for the head and one for the oldest unhandled: no scan of the
      // table (max(global_position) was one) and no walk of its index from the start (a join to the
      // checkpoint was one, filtering the 15,000 events before it).
      const { rows } = await world.sql.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${PIPELINE_LAG_SQL}`, [["lag-slow", "lag-fast"]]);
      const plan = JSON.parse(JSON.stringify(Object.values(rows[0]!)[0]));
      const scans = eventScans(plan);
      expect(scans.length).toBeGreaterThan(0);
      expect(scans.map((node) => node["Actual Rows"] * node["Actual Loops"])).toEqual(scans.map(() => 1));
    });
  });
}

lagSuite("embedded PGlite", openPgliteWorld);
describe.skipIf(missing(server("DATABASE_URL")))("PostgreSQL", () => {
  lagSuite("PostgreSQL", openPostgresWorld);
});
