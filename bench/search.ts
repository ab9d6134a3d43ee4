// Search benchmark: query latency at concurrency 16 (a typo query with facets) on the embedded
// engine and on Elasticsearch, the indexing rate from the log against a raw `_bulk` of the same
// documents, and event -> searchable lag while orders flow at a fixed rate.
//
//   npm run bench:search -- [--products 100000] [--seconds 10] [--order-rate 200]
//
// PostgreSQL (a throwaway database) when DATABASE_URL is set, else PGlite; the Elasticsearch part
// runs when ELASTICSEARCH_URL is set. The last line is one JSON object.

import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { Client } from "@elastic/elasticsearch";
import { Command } from "commander";
import { openEventStore, openSqlClient, type EventStore, type StreamAppend } from "../src/eventstore/index.js";
import { createPgClient } from "../src/infrastructure/sql/pg-client.js";
import type { SqlClient } from "../src/infrastructure/sql/sql-client.js";
import { startSearch, toDocument, type RunningSearch } from "../src/projections/search/index.js";
import { createProductIndex } from "../src/search/elasticsearch/engine.js";
import { indexedProduct } from "../src/search/elasticsearch/mapping.js";
import { DEFAULT_FACETS, type ProductSearchQuery } from "../src/search/port.js";
import { createTestDatabase, type TestDatabase } from "../test/support/database.js";
import { percentile, round, runFor } from "./support.js";

const options = new Command()
  .option("--products <n>", "products in the catalog", "100000")
  .option("--seconds <n>", "seconds per latency run", "10")
  .option("--order-rate <n>", "orders per second during the lag run", "200")
  .option("--index-only", "only the Elasticsearch indexing rate and its raw _bulk baseline (for profiling)")
  .parse()
  .opts<{ products: string; seconds: string; orderRate: string; indexOnly?: boolean }>();
const PRODUCTS = Number(options.products);
const SECONDS = Number(options.seconds);
const ORDER_RATE = Number(options.orderRate);
const INDEX_ONLY = options.indexOnly === true;

const WORDS = ["Swift", "Silent", "Bright", "Compact", "Rugged", "Classic", "Ultra", "Smart"];
const NOUNS = ["Phone", "Laptop", "Headphones", "Speaker", "Kettle", "Lamp", "Sneakers", "Watch"];
const BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark"];
const meta = { correlationId: "bench", causationId: "bench", actor: "bench:search" };
const at = new Date().toISOString();

async function openSql(): Promise<{ sql: SqlClient; drop(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const db: TestDatabase = await createTestDatabase();
    ownDatabases.push(new URL(db.url).pathname.slice(1));
    const sql = createPgClient({ connectionString: db.url, max: 20 });
    return {
      sql,
      drop: async () => {
        await sql.close();
        await db.drop();
      },
    };
  }
  const sql = await openSqlClient({});
  return { sql, drop: () => sql.close() };
}

const SEED_BATCH = 250;

/** Each product's ProductCreated and StockReceived, appended SEED_BATCH products per call (4 calls at once). */
async function seed(store: EventStore): Promise<number> {
  let next = 0;
  let events = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let first = next, last = (next += SEED_BATCH); first < PRODUCTS; first = next, last = next += SEED_BATCH) {
        const appends: StreamAppend[] = [];
        for (let i = first; i < Math.min(last, PRODUCTS); i++) {
          const sku = `B-${i}`;
          appends.push({
            streamId: `product-${sku}`,
            events: [
              {
                id: randomUUID(),
                type: "ProductCreated",
                data: {
                  sku,
                  name: `${WORDS[i % 8]} ${NOUNS[(i >> 3) % 8]} ${i}`,
                  description: `Item ${i}`,
                  category: ["Catalog", NOUNS[(i >> 3) % 8]!],
                  brand: BRANDS[i % 6]!,
                  price: 1_000 + ((i * 7919) % 5_000_000),
                  currency: "INR",
                  attributes: { color: ["black", "white", "red"][i % 3]! },
                  at,
                },
                metadata: meta,
              },
            ],
          });
          appends.push({
            streamId: `inventory-${sku}@BLR`,
            events: [
              { id: randomUUID(), type: "StockReceived", data: { sku, warehouseId: "BLR", quantity: 1 + (i % 20), at }, metadata: meta },
            ],
          });
          events += 2;
        }
        if (appends.length > 0) await store.appendToStreams(appends);
      }
    }),
  );
  return events;
}

const typoQuery: ProductSearchQuery = {
  q: "swfit phnoe",
  categories: [],
  brands: ["Acme", "Hooli"],
  attributes: {},
  sort: "relevance",
  page: 1,
  size: 20,
  facets: [...DEFAULT_FACETS, "attr.color"],
};

/**
 * The CPU seconds each PostgreSQL process had when last seen: a connection that ends between two
 * readings keeps its last figure, so the sum never goes backwards (what it used after its last
 * reading is lost).
 */
const postgresByPid = new Map<string, number>();
let elasticsearchPid: string | undefined;
/** This run's databases (the log's and the read model's), and the server processes seen serving them. */
const ownDatabases: string[] = [];
const ownPids = new Set<string>();
let activity: SqlClient | undefined;

/** utime + stime of a PostgreSQL process, in seconds (undefined when gone, not PostgreSQL, or no /proc). */
function postgresCpuOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return stat.includes("(postgres)") ? (Number(fields[11]) + Number(fields[12])) / 100 : undefined; // USER_HZ
  } catch {
    return undefined;
  }
}

/**
 * Every 200 ms, the connections serving this run's databases and their CPU so far: a pool opens
 * and closes connections during a run, and one that came and went between two cpuNow readings
 * would otherwise not be counted at all.
 */
async function sampleOwnPostgres(): Promise<void> {
  if (!activity || ownDatabases.length === 0) return;
  const { rows } = await activity.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = ANY ($1::text[])", [
    ownDatabases,
  ]);
  for (const r of rows) {
    const pid = String(r.pid);
    ownPids.add(pid);
    const seconds = postgresCpuOf(pid);
    if (seconds !== undefined) postgresByPid.set(pid, seconds);
  }
}

/**
 * CPU seconds so far of this process, of the local PostgreSQL server's processes (from /proc; 0
 * where unreadable), of those serving this run's databases alone (`postgresOwn`: the machine is
 * shared, and the server's total counts others' work too) and of Elasticsearch (its process when
 * local, else its node's figure).
 */
async function cpuNow(client?: Client): Promise<{ node: number; postgres: number; postgresOwn: number; elasticsearch: number }> {
  const u = process.cpuUsage();
  await sampleOwnPostgres();
  const tick = 100; // USER_HZ on Linux
  const cpuOf = (pid: string): number | undefined => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return stat.includes("(postgres)") || pid === elasticsearchPid ? (Number(fields[11]) + Number(fields[12])) / tick : undefined; // utime, stime
    } catch {
      return undefined; // gone meanwhile, or no /proc
    }
  };
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc").filter((pid) => /^\d+$/.test(pid));
  } catch {
    // no /proc
  }
  for (const pid of pids) {
    const seconds = pid === elasticsearchPid ? undefined : cpuOf(pid);
    if (seconds !== undefined) postgresByPid.set(pid, seconds);
  }
  let postgres = 0;
  let postgresOwn = 0;
  for (const [pid, seconds] of postgresByPid) {
    postgres += seconds;
    if (ownPids.has(pid)) postgresOwn += seconds;
  }
  let elasticsearch = 0;
  if (client) {
    // A local node's process from /proc (the node's own figure is refreshed only once a second).
    if (elasticsearchPid === undefined) {
      const info = await client.nodes.info({ metric: "process", filter_path: "nodes.*.process.id" });
      elasticsearchPid = String(Object.values(info.nodes ?? {})[0]?.process?.id ?? "");
    }
    const local = cpuOf(elasticsearchPid);
    if (local !== undefined) elasticsearch = local;
    else {
      const stats = await client.nodes.stats({ metric: "process", filter_path: "nodes.*.process.cpu.total_in_millis" });
      for (const node of Object.values(stats.nodes ?? {})) elasticsearch += (node.process?.cpu?.total_in_millis ?? 0) / 1000;
    }
  }
  return { node: (u.user + u.system) / 1e6, postgres, postgresOwn, elasticsearch };
}

type Cpu = Awaited<ReturnType<typeof cpuNow>>;
const cpuSince = (before: Cpu, after: Cpu): Cpu => ({
  node: round(after.node - before.node, 2),
  postgres: round(after.postgres - before.postgres, 2),
  postgresOwn: round(after.postgresOwn - before.postgresOwn, 2),
  elasticsearch: round(after.elasticsearch - before.elasticsearch, 2),
});

async function indexRun(
  store: EventStore,
  sql: SqlClient,
  elasticsearch?: { client: Client; alias: string },
): Promise<{ search: RunningSearch; seconds: number }> {
  const head = await store.headCheckpoint();
  const started = performance.now();
  const search = await startSearch({ store, sql, ...(elasticsearch ? { elasticsearch } : {}) });
  if (!(await search.waitFor(head, 30 * 60_000))) throw new Error("indexing did not finish");
  return { search, seconds: (performance.now() - started) / 1000 };
}

async function lagRun(store: EventStore, search: RunningSearch): Promise<{ p50Ms: number; p99Ms: number; orders: number }> {
  const lags: number[] = [];
  const waits: Promise<void>[] = [];
  const interval = 1000 / ORDER_RATE;
  const started = performance.now();
  let n = 0;
  while (performance.now() - started < SECONDS * 1000) {
    const due = started + n * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const i = n++;
    const sku = `B-${i % PRODUCTS}`;
    const t0 = performance.now();
    const placed = store.appendToStream(`order-bench-${randomUUID()}`, [
      {
        id: randomUUID(),
        type: "OrderPlaced",
        data: {
          orderId: `bench-${i}-${randomUUID()}`,
          customerId: "c",
          lines: [{ sku, quantity: 1, unitPrice: 1_000 }],
          subtotal: 1_000,
          discountAmount: 0,
          totalAmount: 1_000,
          currency: "INR",
          paymentMethod: "COD",
          paymentRequired: false,
          shippingAddress: {},
          at: new Date().toISOString(),
        },
        metadata: meta,
      },
    ]);
    // Every 10th order is followed until searchable (its product's popularity changed).
    if (i % 10 === 0)
      waits.push(
        placed.then(async (r) => {
          if (await search.waitFor(r.position, 60_000)) lags.push(performance.now() - t0);
        }),
      );
    else waits.push(placed.then(() => undefined));
  }
  await Promise.all(waits);
  lags.sort((a, b) => a - b);
  return { p50Ms: round(percentile(lags, 50)), p99Ms: round(percentile(lags, 99)), orders: n };
}

/** The embedded engine: indexing rate, query latency and lag. */
async function embeddedRuns(store: EventStore, sql: SqlClient, events: number, result: Record<string, unknown>): Promise<void> {
  const embedded = await indexRun(store, sql);
  result.embeddedIndexEventsPerS = round(events / embedded.seconds);
  const e = await runFor(SECONDS, 16, async () => void (await embedded.search.engine.search(typoQuery)));
  result.embedded = { p50Ms: round(e.p50Ms), p99Ms: round(e.p99Ms), queriesPerS: round(e.perSecond) };
  console.log(
    `embedded: indexed ${result.embeddedIndexEventsPerS} events/s; typo query with facets p50 ${round(e.p50Ms)} ms, p99 ${round(e.p99Ms)} ms (${round(e.perSecond)}/s)`,
  );
  result.embeddedLag = await lagRun(store, embedded.search);
  console.log(
    `embedded: event -> searchable at ${ORDER_RATE} orders/s: p50 ${(result.embeddedLag as { p50Ms: number }).p50Ms} ms, p99 ${(result.embeddedLag as { p99Ms: number }).p99Ms} ms`,
  );
  await embedded.search.stop();
}

async function main(): Promise<void> {
  const log = await openSql();
  const store = await openEventStore({ sql: log.sql, pollIntervalMs: 10 });
  activity = log.sql;
  const sampler = setInterval(() => void sampleOwnPostgres().catch(() => undefined), 200);
  const result: Record<string, unknown> = {
    products: PRODUCTS,
    database: process.env.DATABASE_URL ? "postgres" : "pglite",
    concurrency: 16,
    seconds: SECONDS,
  };
  try {
    const t0 = performance.now();
    const events = await seed(store);
    // A real log has statistics (autovacuum analyses it); one loaded seconds ago has none yet, and
    // without them the planner reads each filtered page by scanning the rest of the log and sorting
    // it (78 ms a page at 100,000 products instead of 6), which is the log's cost, not search's.
    await log.sql.query("ANALYZE es_events");
    console.log(`seeded ${PRODUCTS} products (${events} events) in ${round((performance.now() - t0) / 1000)} s`);

    if (!INDEX_ONLY) await embeddedRuns(store, log.sql, events, result);

    if (process.env.ELASTICSEARCH_URL) {
      const client = new Client({ node: process.env.ELASTICSEARCH_URL });
      const alias = `bench-products-${Date.now()}`;
      const readModel = await openSql();
      try {
        const c0 = await cpuNow(client);
        const es = await indexRun(store, readModel.sql, { client, alias });
        const pipelineCpu = cpuSince(c0, await cpuNow(client));
        const indexRate = events / es.seconds;
        // The baseline: the same documents, already built, sent by raw _bulk in pages of 500 (no versions).
        const { rows } = await readModel.sql.query<Record<string, unknown>>("SELECT * FROM search_documents");
        const documents = rows.map(toDocument).map(indexedProduct);
        // Twice, into fresh indices, keeping the faster: on a shared machine one run can be slowed by
        // others' work, and a slow baseline would flatter the ratio.
        let rawSeconds = Number.POSITIVE_INFINITY;
        let rawCpu: Cpu | undefined;
        for (const run of [1, 2]) {
          const raw = `${alias}-raw-${run}`;
          await createProductIndex(client, raw);
          const r0 = await cpuNow(client);
          const b0 = performance.now();
          for (let i = 0; i < documents.length; i += 500) {
            await client.bulk({ operations: documents.slice(i, i + 500).flatMap((d) => [{ index: { _index: raw, _id: d.sku } }, d]) });
          }
          const seconds = (performance.now() - b0) / 1000;
          if (seconds < rawSeconds) rawCpu = cpuSince(r0, await cpuNow(client));
          rawSeconds = Math.min(rawSeconds, seconds);
          await client.indices.delete({ index: raw, ignore_unavailable: true });
        }
        // Like with like: both produce the same documents (one per product), so the ratio is documents/s
        // over documents/s (= raw seconds / pipeline seconds). Events/s is reported beside it, but
        // the pipeline reads 2 events per product here, so events/s over docs/s would flatter it 2x.
        const rawDocsPerS = documents.length / rawSeconds;
        const pipelineDocsPerS = PRODUCTS / es.seconds;
        result.elasticsearchIndexEventsPerS = round(indexRate);
        result.elasticsearchIndexDocsPerS = round(pipelineDocsPerS);
        result.rawBulkDocsPerS = round(rawDocsPerS);
        result.indexRatio = round(pipelineDocsPerS / rawDocsPerS, 2);
        // CPU seconds per side: on a shared machine these say more than the rates do (what each
        // side costs, not how much of the machine it got).
        result.indexCpuSeconds = { pipeline: pipelineCpu, raw: rawCpu };
        console.log(
          `elasticsearch: CPU seconds, pipeline ${JSON.stringify(pipelineCpu)}, raw _bulk ${JSON.stringify(rawCpu)} (load ${loadavg()[0]?.toFixed(1)})`,
        );
        console.log(
          `elasticsearch: indexed ${round(indexRate)} events/s (${round(pipelineDocsPerS)} products/s) vs raw _bulk ${round(rawDocsPerS)} docs/s: ratio ${result.indexRatio}`,
        );
        if (!INDEX_ONLY) {
          const s = await runFor(SECONDS, 16, async () => void (await es.search.engine.search(typoQuery)));
          result.elasticsearch = { p50Ms: round(s.p50Ms), p99Ms: round(s.p99Ms), queriesPerS: round(s.perSecond) };
          console.log(`elasticsearch: typo query with facets p50 ${round(s.p50Ms)} ms, p99 ${round(s.p99Ms)} ms (${round(s.perSecond)}/s)`);
          result.elasticsearchLag = await lagRun(store, es.search);
          console.log(
            `elasticsearch: event -> searchable at ${ORDER_RATE} orders/s: p50 ${(result.elasticsearchLag as { p50Ms: number }).p50Ms} ms, p99 ${(result.elasticsearchLag as { p99Ms: number }).p99Ms} ms`,
          );
        }
        await es.search.stop();
        for (const index of Object.keys(await client.indices.getAlias({ name: alias }))) await client.indices.delete({ index });
      } finally {
        await readModel.drop();
        await client.close();
      }
    }
  } finally {
    clearInterval(sampler);
    await store.close();
    await log.drop();
  }
  console.log(JSON.stringify(result));
}

await main();
