// The gate contract on Redis (REDIS_URL; each test uses its own sale's keys, nothing is flushed).

import { describe } from "vitest";
import { RedisFlashSaleGate } from "../../src/flash-sales/redis/redis-gate.js";
import { missing, server } from "../support/env.js";
import { gateContract } from "./gate-contract.js";

const redisUrl = server("REDIS_URL");

describe.skipIf(missing(redisUrl))("Redis flash-sale gate", () => {
  gateContract("Redis", { open: async () => new RedisFlashSaleGate(redisUrl.value!), crowdConcurrency: 1000 });
});
