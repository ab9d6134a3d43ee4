// The process configuration, parsed once from the environment (docs/CONTRACT.md "Configuration").
// A bad value throws ConfigError naming the variable; main.ts prints its one line and exits 1.

import { hostname } from "node:os";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  eventStore: "postgres" | "eventstoredb";
  eventStoreUrl?: string;
  redisUrl?: string;
  elasticsearchUrl?: string;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: where traces go (OTLP over HTTP); absent: no traces exported. */
  otlpEndpoint?: string;
  kafkaBrokers?: string[];
  /** KAFKA_CONNECT_URL: Kafka Connect's REST API; with PostgreSQL the Debezium outbox connector publishes instead of the in-process relay. */
  kafkaConnectUrl?: string;
  /** DEBEZIUM_DATABASE_URL: the database as Kafka Connect reaches it, for the outbox connector (default DATABASE_URL). */
  debeziumDatabaseUrl?: string;
  /** KAFKA_NAMESPACE: the topics' first segment (`<namespace>.order.events`) and consumer groups' prefix (default "commerce"). */
  kafkaNamespace?: string;
  /** KAFKA_CONSUMERS: which integration-event consumers run in the server's process (default both, "none" for none). */
  kafkaConsumers?: ("notifications" | "analytics")[];
  /** Absent: the app generates one (and stores it under dataDir so restarts and `npm run token` agree). */
  authJwtSecret?: string;
  paymentWebhookSecret?: string;
  paymentTimeoutMs: number;
  reservationTtlMs: number;
  returnWindowMs: number;
  /** PG_POOL_MAX: connections of the PostgreSQL pool shared by the API and the processors (default 40). */
  pgPoolMax: number;
  /** RATE_LIMIT_PER_MINUTE: requests one caller (bearer token, else IP) may make per minute; 0 turns the limit off (default 6000). */
  rateLimitPerMinute: number;
  /** SAGA_PARTITIONS: processors the order saga runs as, each owning the orders hashed to it (1-64, default 4). */
  sagaPartitions: number;
  /** SNAPSHOT_EVERY: a snapshotted stream (inventory) gets a new snapshot each time it has grown by this many events; 0 = no snapshots (default 100). */
  snapshotEvery: number;
  /** LOG_LINGER_MS: how long idle processors wait after new events arrive, so events appended close together are handled as one batch (0 = at once; default 10). */
  logLingerMs: number;
  /** ADMISSION_MAX_LAG_SECONDS: new orders get 503 while the order pipeline's oldest unhandled event is older than this (0 = no bound; default 10). */
  admissionMaxLagSeconds: number;
  /** ADMISSION_MAX_LAG_EVENTS: new orders get 503 while the order pipeline is more than this many events behind (0 = no bound; default 1,000: see docs/adr/0010-admission-bound.md). */
  admissionMaxLagEvents: number;
  /** INSTANCE_ID: this process among the instances sharing the database (default: hostname-pid). */
  instanceId: string;
  /** ROLES: "api" serves HTTP, "processors" runs leased units of work (projectors, saga partitions, scheduler); default both. */
  roles: InstanceRole[];
  /** AUTH_TOKEN_MAX_TTL_MS: a bearer token whose `exp` lies further ahead than this is refused (default a day). */
  authTokenMaxTtlMs: number;
  /** AUTH_JWKS_URL: an identity provider's JWKS; its RS256/ES256 tokens are accepted beside HS256 ones. */
  authJwksUrl?: string;
  /** AUTH_ISSUER / AUTH_AUDIENCE: the `iss` / `aud` an identity provider's token must carry (needs AUTH_JWKS_URL). */
  authIssuer?: string;
  authAudience?: string;
  /** CORS_ORIGINS: origins (scheme://host[:port]) a browser may call the API from; empty: same origin only. */
  corsOrigins: string[];
}

type Env = Record<string, string | undefined>;

export const INSTANCE_ROLES = ["api", "processors"] as const;
export type InstanceRole = (typeof INSTANCE_ROLES)[number];

function instanceId(env: Env): string {
  const v = env.INSTANCE_ID?.trim();
  if (v === undefined || v === "") return `${hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(v))
    throw new ConfigError("INSTANCE_ID", `must be 1-128 letters, digits, ".", "_", ":" or "-", got "${v}"`);
  return v;
}

function roles(env: Env): InstanceRole[] {
  const v = env.ROLES?.trim();
  if (v === undefined || v === "") return [...INSTANCE_ROLES];
  const list = v.split(",").map((r) => r.trim());
  const unknown = list.filter((r) => !(INSTANCE_ROLES as readonly string[]).includes(r));
  if (unknown.length > 0) throw new ConfigError("ROLES", `must be a comma-separated list of ${INSTANCE_ROLES.join(", ")}, got "${v}"`);
  return INSTANCE_ROLES.filter((r) => list.includes(r));
}

const present = (env: Env, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
};

function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const v = present(env, name);
  if (v === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(name, `not a valid URL`);
  }
  if (!protocols.includes(parsed.protocol))
    throw new ConfigError(name, `protocol must be one of ${protocols.join(", ")}, got ${parsed.protocol}`);
  return v;
}

function duration(env: Env, name: string, fallback: number, unit = " number of milliseconds"): number {
  const v = present(env, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n <= 0) throw new ConfigError(name, `must be a positive integer${unit}, got "${v}"`);
  return n;
}

function wholeNumber(env: Env, name: string, fallback: number): number {
  const v = present(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new ConfigError(name, `must be a whole number (0 or more), got "${v}"`);
  return Number(v);
}

/** Comma-separated browser origins, each exactly scheme://host[:port] (what a browser sends in Origin). */
function origins(env: Env, name: string): string[] {
  const v = present(env, name);
  if (v === undefined) return [];
  return v.split(",").map((o) => {
    const origin = o.trim();
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError(name, `"${origin}" is not an origin such as https://shop.example`);
    }
    if ((parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.origin !== origin)
      throw new ConfigError(name, `"${origin}" is not an origin such as https://shop.example (no path, no trailing slash)`);
    return origin;
  });
}

function secret(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  if (v.length < 16) throw new ConfigError(name, "must be at least 16 characters");
  return v;
}

export function loadConfig(env: Env = process.env): Config {
  const portText = present(env, "PORT") ?? "3000";
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new ConfigError("PORT", `must be an integer 0-65535, got "${portText}"`);
  const eventStore = present(env, "EVENT_STORE") ?? "postgres";
  if (eventStore !== "postgres" && eventStore !== "eventstoredb")
    throw new ConfigError("EVENT_STORE", `must be "postgres" or "eventstoredb", got "${eventStore}"`);
  const eventStoreUrl = url(env, "EVENTSTORE_URL", ["esdb:", "esdb+discover:", "kurrentdb:", "kurrentdb+discover:", "kurrent:", "kdb:"]);
  if (eventStore === "eventstoredb" && !eventStoreUrl) throw new ConfigError("EVENTSTORE_URL", "is required when EVENT_STORE=eventstoredb");
  const brokers = present(env, "KAFKA_BROKERS");
  const kafkaBrokers = brokers?.split(",").map((b) => b.trim());
  if (kafkaBrokers?.some((b) => !/^[^\s:/]+:\d{1,5}$/.test(b)))
    throw new ConfigError("KAFKA_BROKERS", `must be comma-separated host:port pairs, got "${brokers}"`);
  const config: Config = {
    port: Number(portText),
    host: present(env, "HOST") ?? "127.0.0.1",
    dataDir: present(env, "DATA_DIR") ?? "./data",
    eventStore,
    paymentTimeoutMs: duration(env, "PAYMENT_TIMEOUT_MS", 900_000),
    reservationTtlMs: duration(env, "RESERVATION_TTL_MS", 900_000),
    returnWindowMs: duration(env, "RETURN_WINDOW_MS", 10 * 24 * 3600 * 1000),
    pgPoolMax: duration(env, "PG_POOL_MAX", 40, ""),
    rateLimitPerMinute: wholeNumber(env, "RATE_LIMIT_PER_MINUTE", 6000),
    sagaPartitions: duration(env, "SAGA_PARTITIONS", 4, ""),
    snapshotEvery: wholeNumber(env, "SNAPSHOT_EVERY", 100),
    logLingerMs: wholeNumber(env, "LOG_LINGER_MS", 10),
    admissionMaxLagSeconds: wholeNumber(env, "ADMISSION_MAX_LAG_SECONDS", 10),
    admissionMaxLagEvents: wholeNumber(env, "ADMISSION_MAX_LAG_EVENTS", 1_000),
    authTokenMaxTtlMs: duration(env, "AUTH_TOKEN_MAX_TTL_MS", 24 * 3600 * 1000),
    corsOrigins: origins(env, "CORS_ORIGINS"),
    instanceId: instanceId(env),
    roles: roles(env),
  };
  if (config.sagaPartitions > 64) throw new ConfigError("SAGA_PARTITIONS", `must be at most 64, got ${config.sagaPartitions}`);
  if (config.pgPoolMax > 1000) throw new ConfigError("PG_POOL_MAX", `must be at most 1000, got ${config.pgPoolMax}`);
  const databaseUrl = url(env, "DATABASE_URL", ["postgres:", "postgresql:"]);
  if (databaseUrl) config.databaseUrl = databaseUrl;
  // The embedded database lives in this process: no other instance could run its processors.
  if (!databaseUrl && !config.roles.includes("processors"))
    throw new ConfigError("ROLES", `without "processors" needs DATABASE_URL (a worker instance must share the database)`);
  if (eventStoreUrl) config.eventStoreUrl = eventStoreUrl;
  const redisUrl = url(env, "REDIS_URL", ["redis:", "rediss:"]);
  if (redisUrl) config.redisUrl = redisUrl;
  const otlp = url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]);
  if (otlp) config.otlpEndpoint = otlp;
  const es = url(env, "ELASTICSEARCH_URL", ["http:", "https:"]);
  if (es) config.elasticsearchUrl = es;
  if (kafkaBrokers) config.kafkaBrokers = kafkaBrokers;
  const kafkaConnect = url(env, "KAFKA_CONNECT_URL", ["http:", "https:"]);
  if (kafkaConnect) config.kafkaConnectUrl = kafkaConnect;
  const debeziumDatabaseUrl = url(env, "DEBEZIUM_DATABASE_URL", ["postgres:", "postgresql:"]) ?? databaseUrl;
  if (debeziumDatabaseUrl) config.debeziumDatabaseUrl = debeziumDatabaseUrl;
  const kafkaNamespace = present(env, "KAFKA_NAMESPACE");
  if (kafkaNamespace !== undefined) {
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(kafkaNamespace))
      throw new ConfigError(
        "KAFKA_NAMESPACE",
        `must be lower-case letters, digits, _ or - (starting with a letter), got "${kafkaNamespace}"`,
      );
    config.kafkaNamespace = kafkaNamespace;
  }
  const consumers = present(env, "KAFKA_CONSUMERS");
  if (consumers !== undefined) {
    const names = consumers === "none" ? [] : consumers.split(",").map((c) => c.trim());
    const bad = names.find((n) => n !== "notifications" && n !== "analytics");
    if (bad !== undefined)
      throw new ConfigError("KAFKA_CONSUMERS", `must be "none" or a comma-separated list of notifications, analytics; got "${bad}"`);
    config.kafkaConsumers = names as ("notifications" | "analytics")[];
  }
  const jwt = secret(env, "AUTH_JWT_SECRET");
  if (jwt) config.authJwtSecret = jwt;
  const webhook = secret(env, "PAYMENT_WEBHOOK_SECRET");
  if (webhook) config.paymentWebhookSecret = webhook;
  const jwks = url(env, "AUTH_JWKS_URL", ["http:", "https:"]);
  if (jwks) config.authJwksUrl = jwks;
  for (const [name, key] of [
    ["AUTH_ISSUER", "authIssuer"],
    ["AUTH_AUDIENCE", "authAudience"],
  ] as const) {
    const v = present(env, name);
    if (v === undefined) continue;
    if (!jwks) throw new ConfigError(name, "applies to identity-provider tokens and needs AUTH_JWKS_URL");
    config[key] = v;
  }
  return config;
}
