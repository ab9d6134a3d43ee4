// The translator: a checkpointed processor in transactional mode. For each domain event it
// updates its facts, translates, and writes the outbox rows; the processor commits all of that
// with its checkpoint in one transaction, so an integration event is in the outbox if and only
// if the checkpoint says its source was handled. A batch (up to 500 domain events) learns and
// translates event by event in log order, then writes its orders' facts and its outbox rows in
// one statement each, reading the stock, categories and thresholds of its SKUs up front, one
// statement per table (handleBatch); `handle` (one event) is the processor's fallback when a
// batch fails.

import type { SqlClient } from "../infrastructure/sql/sql-client.js";
import { migrate } from "../infrastructure/sql/migrations.js";
import { resetProcessor, type ProcessorDefinition } from "../processing/processor.js";
import { AGGREGATE_TYPES } from "./catalog.js";
import type { IntegrationEvent } from "./envelope.js";
import { FACT_TABLES, factsMigrations, learn, OrderFactsCache, saveBatchFacts, TranslationBatch } from "./facts.js";
import { outboxMigrations, writeOutbox, type OutboxMode } from "./outbox.js";
import { translate } from "./translate.js";

export const TRANSLATOR_NAME = "integration/translator";

export async function migrateIntegration(sql: SqlClient): Promise<void> {
  await migrate(sql, [...outboxMigrations, ...factsMigrations]);
}

export function translatorDefinition(options: { mode: OutboxMode; name?: string }): ProcessorDefinition {
  const cache = new OrderFactsCache();
  return {
    name: options.name ?? TRANSLATOR_NAME,
    mode: "transactional",
    filter: { streamCategories: AGGREGATE_TYPES },
    batchSize: 500,
    async handle(event, { sql }) {
      const batch = new TranslationBatch();
      const out = await translate(event, await learn(sql, event, batch, cache));
      await saveBatchFacts(sql, batch);
      await writeOutbox(sql, out, options.mode);
    },
    async handleBatch(events, { sql }) {
      const batch = new TranslationBatch();
      await batch.prefetch(sql, events);
      const out: IntegrationEvent[] = [];
      for (const event of events) out.push(...(await translate(event, await learn(sql, event, batch, cache))));
      await saveBatchFacts(sql, batch);
      await writeOutbox(sql, out, options.mode);
    },
  };
}

/** Forgets the translator's checkpoint and facts together: it replays the log from position 0. */
export async function resetTranslator(sql: SqlClient, name = TRANSLATOR_NAME): Promise<void> {
  await sql.transaction(async (tx) => {
    await resetProcessor(tx, name);
    for (const table of FACT_TABLES) await tx.query(`DELETE FROM ${table}`);
  });
}
