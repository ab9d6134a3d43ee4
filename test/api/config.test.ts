import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("configuration", () => {
  it("has the contract's defaults", () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: "127.0.0.1",
      dataDir: "./data",
      eventStore: "postgres",
      paymentTimeoutMs: 900_000,
      reservationTtlMs: 900_000,
      returnWindowMs: 864_000_000,
      pgPoolMax: 40,
      rateLimitPerMinute: 6000,
      sagaPartitions: 4,
      snapshotEvery: 100,
      logLingerMs: 10,
      admissionMaxLagSeconds: 10,
      admissionMaxLagEvents: 1_000,
      authTokenMaxTtlMs: 86_400_000,
      corsOrigins: [],
      instanceId: `${hostname()}-${process.pid}`,
      roles: ["api", "processors"],
    });
  });
  it("reads every variable", () => {
    const c = loadConfig({
      PORT: "8080",
      HOST: "0.0.0.0",
      DATA_DIR: "/var/data",
      DATABASE_URL: "postgres://u@db:5432/shop",
      EVENT_STORE: "eventstoredb",
      EVENTSTORE_URL: "esdb://127.0.0.1:2113?tls=false",
      REDIS_URL: "redis://127.0.0.1:6379",
      ELASTICSEARCH_URL: "http://127.0.0.1:9200",
      KAFKA_BROKERS: "k1:9092, k2:9092",
      AUTH_JWT_SECRET: "a-secret-of-enough-length",
      PAYMENT_WEBHOOK_SECRET: "whsec-of-enough-length",
      PAYMENT_TIMEOUT_MS: "1000",
      RESERVATION_TTL_MS: "2000",
      RETURN_WINDOW_MS: "3000",
      LOG_LINGER_MS: "0",
    });
    expect(c).toMatchObject({
      port: 8080,
      eventStore: "eventstoredb",
      kafkaBrokers: ["k1:9092", "k2:9092"],
      paymentTimeoutMs: 1000,
      reservationTtlMs: 2000,
      returnWindowMs: 3000,
      logLingerMs: 0,
    });
  });
  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["DATABASE_URL", "not a url"],
    ["DATABASE_URL", "mysql://x/y"],
    ["EVENT_STORE", "kafka"],
    ["REDIS_URL", "http://x"],
    ["ELASTICSEARCH_URL", "::"],
    ["KAFKA_BROKERS", "nohostport"],
    ["AUTH_JWT_SECRET", "short"],
    ["PAYMENT_TIMEOUT_MS", "-5"],
    ["RESERVATION_TTL_MS", "0"],
    ["RETURN_WINDOW_MS", "10 days"],
    ["PG_POOL_MAX", "0"],
    ["ADMISSION_MAX_LAG_SECONDS", "-1"],
    ["ADMISSION_MAX_LAG_EVENTS", "lots"],
    ["LOG_LINGER_MS", "-3"],
    ["PG_POOL_MAX", "5000"],
    ["INSTANCE_ID", "has spaces"],
    ["INSTANCE_ID", "-leading-dash"],
    ["ROLES", "api,worker"],
    ["ROLES", "api"],
  ])("rejects %s=%s with an error naming the variable", (variable, value) => {
    let caught: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe(variable);
    expect((caught as Error).message.split("\n")).toHaveLength(1);
  });
  it("reads INSTANCE_ID and ROLES (API-only or worker-only instances share a PostgreSQL database)", () => {
    const db = { DATABASE_URL: "postgres://u@db:5432/shop" };
    expect(loadConfig({ ...db, INSTANCE_ID: "api-1.eu:2", ROLES: "api" })).toMatchObject({ instanceId: "api-1.eu:2", roles: ["api"] });
    expect(loadConfig({ ...db, ROLES: " processors " }).roles).toEqual(["processors"]);
    expect(loadConfig({ ...db, ROLES: "processors,api" }).roles).toEqual(["api", "processors"]);
    expect(loadConfig({ ROLES: "processors" }).roles).toEqual(["processors"]);
  });
  it("requires EVENTSTORE_URL for EVENT_STORE=eventstoredb", () => {
    expect(() => loadConfig({ EVENT_STORE: "eventstoredb" })).toThrow(/EVENTSTORE_URL/);
  });
});
