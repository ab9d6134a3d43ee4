// Composition root: the one place that opens the stores and starts the processors, the gateway
// and the HTTP server. buildApp(config) -> { app, close() }.

import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { FastifyInstance, FastifyServerOptions } from "fastify";
import { Client as ElasticsearchClient } from "@elastic/elasticsearch";
import { Redis } from "ioredis";
import { pino, type Logger } from "pino";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import { startLagAdmission } from "./api/admission.js";
import { pipelineLag } from "./processing/lag.js";
import { sharedLogReader } from "./processing/log-reader.js";
import { buildServer } from "./api/server.js";
import { hotReadRoutes } from "./api/hot-reads.js";
import { startRedisModels } from "./projections/redis/index.js";
import { startSearch } from "./projections/search/index.js";
import { redisProductLines, withProductLines } from "./search/product-lines.js";
import { hotReads } from "./queries/hot.js";
import type { ApiDeps, ReadinessCheck } from "./api/deps.js";
import { idempotencyMigrations } from "./api/idempotency.js";
import type { Config } from "./config.js";
import { openEventStore, openSqlClient } from "./eventstore/index.js";
import type { EventStore } from "./eventstore/port.js";
import { migrate } from "./infrastructure/sql/migrations.js";
import { tracedEventStore } from "./observability/tracing.js";
import { createPgClient } from "./infrastructure/sql/pg-client.js";
import { countStatements } from "./infrastructure/sql/statement-counter.js";
import type { SqlClient } from "./infrastructure/sql/sql-client.js";
import { applyGatewayEvent } from "./payments/gateway-events.js";
import { paymentFinder, SimulatedPaymentGateway, type SimulatedGatewayOptions } from "./payments/simulated-gateway.js";
import { simulatedGatewayRoutes } from "./payments/simulated-gateway-routes.js";
import { createOperationsConsole } from "./operations/console.js";
import { leasedProcessors, leasedScheduler, startOwnership, type Ownership } from "./processing/ownership/index.js";
import { startProjections, type RunningProjections } from "./projections/index.js";
import { getCart, getInventory, getOrder, getPayment, getProduct, listOrders } from "./queries/index.js";
import { reconcileRefunds } from "./queries/refunds.js";
import { startInProcessConsumers, type ConsumerName } from "./consumers/index.js";
import { integrationEventRoutes } from "./api/integration-events.js";
import { startIntegration } from "./integration/runtime.js";
import { postgresStockPlanningLock, startOrderSaga, type RunningOrderSaga, type SagaRetryPolicy } from "./sagas/index.js";
import { openFlashSales, type FlashSales } from "./flash-sales/index.js";
import { PostgresFlashSaleGate } from "./flash-sales/postgres/postgres-gate.js";
import { RedisFlashSaleGate } from "./flash-sales/redis/redis-gate.js";
import { startScheduler, systemClock } from "./scheduling/deadlines.js";
import { buildWorkerServer } from "./api/worker-server.js";
import { drainRequests } from "./api/drain.js";

export interface Secrets {
  jwtSecret: string;
  webhookSecret: string;
  /** Which of them were generated now (and stored under DATA_DIR), to print at start. */
  generated: { jwt: boolean; webhook: boolean };
  /** Which of them are dev secrets (generated now or on an earlier start, kept under DATA_DIR) rather than configured. */
  dev: { jwt: boolean; webhook: boolean };
}

const SECRETS_FILE = "dev-secrets.json";

/** Configured secrets win; otherwise the ones stored under DATA_DIR; otherwise fresh ones, stored there. */
export function resolveSecrets(config: Pick<Config, "authJwtSecret" | "paymentWebhookSecret" | "dataDir">): Secrets {
  const file = join(config.dataDir, SECRETS_FILE);
  let stored: { jwtSecret?: string; webhookSecret?: string } = {};
  try {
    stored = JSON.parse(readFileSync(file, "utf8")) as typeof stored;
  } catch {
    stored = {};
  }
  const configuredJwt = config.authJwtSecret ?? stored.jwtSecret;
  const configuredWebhook = config.paymentWebhookSecret ?? stored.webhookSecret;
  const generated = { jwt: configuredJwt === undefined, webhook: configuredWebhook === undefined };
  const jwtSecret = configuredJwt ?? randomBytes(32).toString("hex");
  const webhookSecret = configuredWebhook ?? `whsec_${randomBytes(24).toString("hex")}`;
  if (generated.jwt || generated.webhook) {
    mkdirSync(config.dataDir, { recursive: true });
    const next = { ...stored, ...(config.authJwtSecret ? {} : { jwtSecret }), ...(config.paymentWebhookSecret ? {} : { webhookSecret }) };
    // Several instances starting at once on one DATA_DIR must end up with the same secrets: the
    // file appears whole (written aside, then linked into place), and only if it is not there yet;
    // the instance that finds it there already takes the secrets of the one that wrote it first.
    const aside = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
    writeFileSync(aside, JSON.stringify(next, null, 2), { mode: 0o600 });
    try {
      if (Object.keys(stored).length > 0) renameSync(aside, file);
      else linkSync(aside, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      return resolveSecrets(config);
    } finally {
      rmSync(aside, { force: true });
    }
  }
  return { jwtSecret, webhookSecret, generated, dev: { jwt: !config.authJwtSecret, webhook: !config.paymentWebhookSecret } };
}

/** A service reachable by TCP (the readiness probe of a configured server we hold no client for). */
function tcpCheck(name: string, target: string): ReadinessCheck {
  return {
    name,
    check: () =>
      new Promise((resolve, reject) => {
        let host: string;
        let port: number;
        try {
          const u = new URL(target.includes("://") ? target : `tcp://${target}`);
          host = u.hostname;
          port = Number(u.port || (u.protocol === "redis:" ? 6379 : u.protocol === "https:" ? 443 : 80));
        } catch (error) {
          reject(error as Error);
          return;
        }
        const socket = connect({ host, port, timeout: 1500 });
        socket.once("connect", () => {
          socket.destroy();
          resolve({ target: `${host}:${port}` });
        });
        socket.once("timeout", () => {
          socket.destroy();
          reject(new Error(`${host}:${port} timed out`));
        });
        socket.once("error", (error) => reject(error));
      }),
  };
}

export interface BuildAppOptions {
  logger?: FastifyServerOptions["logger"];
  /** Base URL clients reach this server at (payment page links, the simulated gateway's webhooks). */
  publicBaseUrl?: string;
  /** Milliseconds between the event store's polls for new events (subscriptions). */
  pollIntervalMs?: number;
  /** Milliseconds between the deadline scheduler's polls (default 250). */
  schedulerPollMs?: number;
  /** The saga's gateway retry policy (tests park a saga in seconds rather than minutes). */
  sagaRetry?: Partial<SagaRetryPolicy>;
  /** Milliseconds between passes over open flash sales (expired holds, sales that ended); false: none (tests call flashSales.timers.tick()). Default 1000. */
  flashSaleTimerMs?: number | false;
}

export interface BuiltApp {
  app: FastifyInstance;
  store: EventStore;
  sql: SqlClient;
  secrets: Secrets;
  gateway: SimulatedPaymentGateway;
  projections: RunningProjections;
  saga: RunningOrderSaga;
  flashSales: FlashSales;
  /** Which units of work this instance runs, and the registry of every instance. */
  ownership: Ownership;
  /** Where clients reach the server, once known (after listening on port 0): payment links and the simulated gateway's webhooks use it. */
  setPublicBaseUrl(url: string): void;
  close(): Promise<void>;
}

export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<BuiltApp> {
  const secrets = resolveSecrets(config);
  // Statements sent by the pools the order flow uses (bench:checkout divides it by confirmed orders).
  const sqlStatements = new Counter({
    name: "sql_statements_total",
    help: "SQL statements sent (a transaction's BEGIN and COMMIT included), by pool",
    labelNames: ["pool"] as const,
    registers: [],
  });
  const sql = countStatements(
    config.databaseUrl
      ? createPgClient({ connectionString: config.databaseUrl, max: config.pgPoolMax })
      : await openSqlClient({ dataDir: join(config.dataDir, "pglite") }),
    (n) => sqlStatements.inc({ pool: "main" }, n),
  );
  const stoppers: (() => Promise<void>)[] = [() => sql.close()];
  const stopAll = async () => {
    for (const stop of stoppers.reverse().splice(0)) await stop().catch(() => undefined);
  };
  try {
    const store = tracedEventStore(
      await openEventStore({
        eventStore: config.eventStore,
        ...(config.eventStoreUrl ? { eventStoreUrl: config.eventStoreUrl } : {}),
        ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
        snapshotEvery: config.snapshotEvery,
        sql,
      }),
    );
    stoppers.push(() => store.close());
    // Every processor of this process follows the log through this one reader (created here, with
    // the configured linger, before any processor asks for it).
    sharedLogReader(store, { lingerMs: config.logLingerMs });
    await migrate(sql, idempotencyMigrations);

    // Processors log their retries and parked events; an app built without a logger (tests) stays quiet.
    const processorLogger: Logger | undefined =
      options.logger && typeof options.logger === "object" && "level" in options.logger
        ? pino({ level: String(options.logger.level), name: "processors" })
        : undefined;
    // Every unit of work (each projector, each saga partition, the scheduler) runs on one live
    // instance at a time, through leases in the database (src/processing/ownership). An instance
    // without the "processors" role runs none and reads the stored checkpoints instead.
    // Leases are renewed on connections of their own: a busy pool must never delay a renewal past
    // the lease's expiry. The embedded database belongs to this process alone: leases left by an
    // earlier process are void, and a long TTL costs nothing.
    const ownershipSql = config.databaseUrl
      ? createPgClient({ connectionString: config.databaseUrl, max: 2, applicationName: "commerce-ownership" })
      : sql;
    if (ownershipSql !== sql) stoppers.push(() => ownershipSql.close());
    const ownership = await startOwnership({
      sql: ownershipSql,
      instanceId: config.instanceId,
      roles: config.roles,
      ...(config.databaseUrl ? {} : { solo: true, ttlMs: 60_000 }),
      ...(processorLogger ? { logger: processorLogger } : {}),
    });
    stoppers.push(() => ownership.stop());
    const startLeased = leasedProcessors(ownership);
    // The stock planning lock's own pool: its waiters never starve the connections the saga's work
    // needs. Each SKU being planned holds one of its connections for the whole placement step, so
    // its size caps how many placements plan at once: 8 allowed about 5 steps/s while orders came
    // in at 60/s (each step takes longer on a busy server); bench:checkout --rate 100, same window,
    // 8 against 40: accepted 59 -> 77/s, confirmed during the load 6.2 -> 12.3/s. 24, not 40: the
    // pool opens connections only while SKUs are being planned, and with the main pool (40) a busy
    // instance should stay well inside PostgreSQL's default max_connections of 100.
    const stockLockSql = config.databaseUrl
      ? countStatements(
          createPgClient({
            connectionString: config.databaseUrl,
            max: 24,
            applicationName: "commerce-stock-planning",
            idleInTransactionTimeoutMs: 60_000,
          }),
          (n) => sqlStatements.inc({ pool: "stock-planning" }, n),
        )
      : undefined;
    if (stockLockSql) stoppers.push(() => stockLockSql.close());
    const projections = await startProjections({
      store,
      sql,
      startProcessor: startLeased,
      ...(processorLogger ? { logger: processorLogger } : {}),
    });
    stoppers.push(() => projections.stop());
    // Search: Elasticsearch (index behind the alias "products") when ELASTICSEARCH_URL is set, else
    // PostgreSQL full-text over the search read model. Hot read models in Redis when REDIS_URL is set;
    // their reads fall back to SQL whenever Redis cannot answer. Both writers are idempotent and
    // guarded by version/position, so they run on every instance rather than under a lease.
    const elasticsearch = config.elasticsearchUrl
      ? new ElasticsearchClient({ node: config.elasticsearchUrl, requestTimeout: 10_000 })
      : undefined;
    if (elasticsearch) stoppers.push(() => elasticsearch.close());
    const search = await startSearch({
      store,
      sql,
      startProcessor: startLeased,
      ...(elasticsearch ? { elasticsearch: { client: elasticsearch, alias: "products" } } : {}),
      // With Elasticsearch the SQL model keeps only documents and versions (no terms, vocabulary or
      // GIN indexes); going back to the embedded engine needs `replay -- rebuild search --shadow`.
      mode: elasticsearch ? "elasticsearch" : "embedded",
      ...(processorLogger ? { logger: processorLogger } : {}),
    });
    stoppers.push(() => search.stop());
    // Fails fast while Redis is down (no offline queue), so reads fall back at once instead of waiting.
    const hotRedis = config.redisUrl
      ? new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 2_000 })
      : undefined;
    if (hotRedis) {
      hotRedis.on("error", () => undefined); // readiness reports it; the projector waits and reads fall back
      stoppers.push(async () => void (await hotRedis.quit().catch(() => hotRedis.disconnect())));
    }
    const redisModels = hotRedis
      ? await startRedisModels({
          store,
          sql,
          redis: hotRedis,
          startProcessor: startLeased,
          ...(processorLogger ? { logger: processorLogger } : {}),
        })
      : undefined;
    if (redisModels) stoppers.push(() => redisModels.stop());
    const readModelLags = async () => [...(await search.status()), ...(redisModels ? [await redisModels.status()] : [])];

    const baseUrl = options.publicBaseUrl ?? `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${config.port}`;
    // findPayment: the payment page also works for payments initiated before a restart.
    const gatewayOptions: SimulatedGatewayOptions = {
      publicBaseUrl: baseUrl,
      webhookUrl: `${baseUrl}/api/payments/webhook`,
      webhookSecret: secrets.webhookSecret,
      findPayment: paymentFinder(store),
    };
    const gateway = new SimulatedPaymentGateway(gatewayOptions);
    // Flash sales: the admission gate is Redis (one Lua script per claim) when REDIS_URL is set, else
    // PostgreSQL (one conditional UPDATE per claim); claims are recorded in the log either way.
    const flashSaleGate = config.redisUrl ? new RedisFlashSaleGate(config.redisUrl) : await PostgresFlashSaleGate.open(sql);
    const flashSales = openFlashSales({
      store,
      gate: flashSaleGate,
      timerIntervalMs: options.flashSaleTimerMs ?? 1000,
      ...(processorLogger ? { logger: processorLogger } : {}),
    });
    stoppers.push(() => flashSales.close());
    // The order saga and its deadline scheduler (payment timeout, reservation expiry, retries).
    const saga: RunningOrderSaga = await startOrderSaga({
      store,
      sql,
      gateway,
      clock: systemClock,
      config: {
        paymentTimeoutMs: config.paymentTimeoutMs,
        reservationTtlMs: config.reservationTtlMs,
        ...(options.sagaRetry ? { retry: options.sagaRetry } : {}),
      },
      partitions: config.sagaPartitions,
      startProcessor: startLeased,
      flashSaleStock: flashSales.stock,
      startScheduler: leasedScheduler(ownership, startScheduler),
      // Planning on stock holds the order's SKUs across every instance of the database (advisory locks).
      ...(stockLockSql ? { stockLock: postgresStockPlanningLock(stockLockSql) } : {}),
      ...(options.schedulerPollMs ? { schedulerPollMs: options.schedulerPollMs } : {}),
      ...(processorLogger ? { logger: processorLogger } : {}),
    });
    stoppers.push(() => saga.stop());
    // Integration events: the translator always; Debezium or the in-process relay when Kafka is configured (src/integration/runtime.ts).
    const integration = await startIntegration(
      { store, sql, startProcessor: startLeased, ownership, ...(processorLogger ? { logger: processorLogger } : {}) },
      {
        ...(config.kafkaBrokers ? { kafkaBrokers: config.kafkaBrokers } : {}),
        ...(config.kafkaConnectUrl ? { kafkaConnectUrl: config.kafkaConnectUrl } : {}),
        ...(config.kafkaNamespace ? { namespace: config.kafkaNamespace } : {}),
        ...(config.databaseUrl && config.debeziumDatabaseUrl ? { databaseUrl: config.debeziumDatabaseUrl } : {}),
      },
    );
    stoppers.push(() => integration.stop());
    const consumerNames: ConsumerName[] = config.kafkaBrokers ? (config.kafkaConsumers ?? ["notifications", "analytics"]) : [];
    const consumers =
      consumerNames.length > 0
        ? startInProcessConsumers(consumerNames, {
            sql,
            brokers: config.kafkaBrokers ?? [],
            ...(config.kafkaNamespace ? { namespace: config.kafkaNamespace } : {}),
            ...(processorLogger ? { logger: processorLogger } : {}),
          })
        : undefined;
    if (consumers) stoppers.push(() => consumers.stop());
    // On close: hand every unit over at a checkpoint, then leave. It starts with the HTTP drain
    // (below), not after it: a slow request must not hold up the takeover of this instance's work
    // (a clean-clone CI run saw a SIGTERMed instance keep its leases for over 20 s under load).
    let handingOver: Promise<void> | undefined;
    const handOver = () => (handingOver ??= ownership.stop());
    stoppers.push(handOver);
    // Take this instance's share now, so a lone instance runs everything once buildApp returns.
    await ownership.rebalance();

    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    registry.registerMetric(sqlStatements);
    integration.registerMetrics(registry);
    new Gauge({
      name: "projection_lag_events",
      help: "Events a projection has still to process",
      labelNames: ["projection"] as const,
      registers: [registry],
      async collect() {
        for (const s of await projections.projectionStatus().catch(() => [])) this.set({ projection: s.name }, s.lagEvents);
      },
    });

    // Admission control of new orders: the lag of the order path only (the saga partitions, and the
    // orders and payments read models a customer watches an order through), measured from their
    // stored checkpoints (src/processing/lag.ts; PostgreSQL/PGlite log only). A backlog in search,
    // order history, carts or the other read models does not refuse orders.
    const orderPathProjections = new Set(["projections/orders", "projections/payments"]);
    const pipeline = [
      ...saga.partitions.map((p) => p.name),
      ...projections.projectors.map((p) => p.name).filter((name) => orderPathProjections.has(name)),
    ];
    const admission = startLagAdmission({
      maxLagEvents: config.eventStore === "postgres" ? config.admissionMaxLagEvents : 0,
      maxLagSeconds: config.eventStore === "postgres" ? config.admissionMaxLagSeconds : 0,
      measure: () => pipelineLag(sql, pipeline),
      ...(processorLogger ? { onError: (error: unknown) => processorLogger.warn({ err: error }, "pipeline lag not measured") } : {}),
    });
    stoppers.push(async () => admission.stop());
    new Gauge({
      name: "order_pipeline_lag_events",
      help: "Events the slowest of the saga partitions and the orders and payments read models is behind the log",
      registers: [registry],
      collect() {
        this.set(admission.state().events);
      },
    });
    new Gauge({
      name: "order_pipeline_lag_seconds",
      help: "Age of the oldest event the slowest of the saga partitions and the orders and payments read models has not handled",
      registers: [registry],
      collect() {
        this.set(admission.state().seconds);
      },
    });
    new Gauge({
      name: "order_admission_open",
      help: "1 while new orders are admitted, 0 while they get 503 (pipeline over ADMISSION_MAX_LAG_*)",
      registers: [registry],
      collect() {
        this.set(admission.state().open ? 1 : 0);
      },
    });
    new Gauge({
      name: "order_admission_refused",
      help: "Orders and checkouts refused with 503 by admission control since start",
      registers: [registry],
      collect() {
        this.set(admission.state().refused);
      },
    });

    new Gauge({
      name: "read_model_lag_events",
      help: "Events a search or Redis read model has still to process",
      labelNames: ["read_model"] as const,
      registers: [registry],
      async collect() {
        for (const s of await readModelLags().catch(() => [])) this.set({ read_model: s.name }, s.lagEvents);
      },
    });
    new Gauge({
      name: "read_model_lag_seconds",
      help: "Age of the oldest event a search or Redis read model has not processed (0 when caught up)",
      labelNames: ["read_model"] as const,
      registers: [registry],
      async collect() {
        for (const s of await readModelLags().catch(() => [])) this.set({ read_model: s.name }, s.lagSeconds);
      },
    });

    const readiness: ReadinessCheck[] = [
      {
        name: "database",
        check: async () => {
          await sql.query("SELECT 1");
          return { kind: sql.dialect };
        },
      },
      { name: "eventStore", check: async () => ({ kind: store.kind, head: await store.headCheckpoint() }) },
      {
        name: "projections",
        check: async () => {
          const status = await projections.projectionStatus();
          const parked = status.reduce((n, s) => n + s.parked, 0);
          if (status.some((s) => !s.running))
            throw new Error(
              `not running: ${status
                .filter((s) => !s.running)
                .map((s) => s.name)
                .join(", ")}`,
            );
          return { lagEvents: Object.fromEntries(status.map((s) => [s.name, s.lagEvents])), parked };
        },
      },
      {
        name: "instance",
        check: async () => ({ instanceId: ownership.instanceId, roles: config.roles, owns: ownership.owned() }),
      },
      // Not a failure when closed: the instance is healthy and drains the backlog; only new orders wait.
      { name: "admission", check: async () => ({ ...admission.state() }) },
      {
        name: "orderSaga",
        check: async () => {
          const s = await saga.processor.status();
          return { checkpoint: s.checkpoint, caughtUp: s.caughtUp, parked: s.parked, partitions: saga.partitions.length };
        },
      },
    ];
    if (redisModels) readiness.push({ name: "redis", check: () => redisModels.readiness() });
    readiness.push({ name: "search", check: () => search.readiness() });
    readiness.push({
      name: "readModels",
      check: async () => ({
        lag: Object.fromEntries((await readModelLags()).map((s) => [s.name, { events: s.lagEvents, seconds: s.lagSeconds }])),
      }),
    });
    for (const broker of config.kafkaBrokers ?? []) readiness.push(tcpCheck(`kafka:${broker}`, broker));
    readiness.push({ name: "integrationEvents", check: () => integration.status() });
    if (consumers) readiness.push({ name: "consumers", check: async () => consumers.status() });

    // Rate limits shared by every instance: counted in Redis when it is configured.
    const rateLimitRedis =
      config.redisUrl && config.rateLimitPerMinute > 0
        ? new Redis(config.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2_000 })
        : undefined;
    if (rateLimitRedis) {
      rateLimitRedis.on("error", () => undefined); // readiness reports Redis; the limiter lets requests through while it is down
      stoppers.push(async () => void (await rateLimitRedis.quit().catch(() => rateLimitRedis.disconnect())));
    }
    const deps: ApiDeps = {
      store,
      sql,
      jwtSecret: secrets.jwtSecret,
      webhookSecret: secrets.webhookSecret,
      returnWindowMs: config.returnWindowMs,
      rateLimitPerMinute: config.rateLimitPerMinute,
      ...(rateLimitRedis ? { rateLimitRedis } : {}),
      tokenPolicy: {
        maxTtlMs: config.authTokenMaxTtlMs,
        ...(config.authJwksUrl ? { jwksUrl: config.authJwksUrl } : {}),
        ...(config.authIssuer ? { issuer: config.authIssuer } : {}),
        ...(config.authAudience ? { audience: config.authAudience } : {}),
      },
      corsOrigins: config.corsOrigins,
      registry,
      read: {
        getOrder: (orderId) => getOrder(sql, orderId),
        getPayment: (paymentId) => getPayment(sql, paymentId),
        getProduct: (sku) => getProduct(sql, sku),
        getCart: (customerId) => getCart(sql, customerId),
        getInventory: (sku) => getInventory(sql, sku),
        listOrders: (filter) => listOrders(sql, filter),
        reconciliation: (range) => reconcileRefunds(sql, range),
      },
      waitFor: async (position, timeoutMs) => {
        const [sqlModels, redis] = await Promise.all([
          projections.waitFor(position, timeoutMs),
          redisModels?.waitFor(position, timeoutMs) ?? true,
        ]);
        if (!sqlModels || !redis) throw new Error("read models did not catch up in time");
      },
      // With Redis, hits' price and availability come from the hot product cards (the engine's document when Redis cannot answer).
      search: { engine: hotRedis ? withProductLines(search.engine, redisProductLines(hotRedis)) : search.engine, waitFor: search.waitFor },
      hot: hotReads({ sql, ...(hotRedis ? { redis: hotRedis } : {}) }),
      applyGatewayEvent: (body) => applyGatewayEvent({ store }, body),
      readiness,
      admission,
      flashSales: { deps: flashSales.deps, desk: flashSales.desk },
      instances: ownership,
      ops: createOperationsConsole({
        store,
        sql,
        projections,
        search,
        ...(redisModels ? { redisModels } : {}),
        resumeSaga: (orderId, by) => saga.resume(orderId, by),
      }),
    };
    const app = config.roles.includes("api")
      ? await buildServer(deps, {
          ...(options.logger === undefined ? {} : { logger: options.logger }),
          plugins: [
            async (a) => void (await a.register(simulatedGatewayRoutes, { gateway })),
            (a) => integrationEventRoutes(a, deps),
            (a) => hotReadRoutes(a, deps),
          ],
        })
      : await buildWorkerServer(deps, options.logger === undefined ? {} : { logger: options.logger });
    // The server drains its requests while the processors stop at a checkpoint; then the stores close.
    stoppers.push(async () => {
      await Promise.all([drainRequests(app, processorLogger), handOver()]);
    });

    const setPublicBaseUrl = (url: string) => {
      gatewayOptions.publicBaseUrl = url;
      gatewayOptions.webhookUrl = `${url.replace(/\/$/, "")}/api/payments/webhook`;
    };
    return { app, store, sql, secrets, gateway, projections, saga, flashSales, ownership, setPublicBaseUrl, close: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
